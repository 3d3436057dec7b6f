"""ModelRegistry end to end on real MLflow (SQLite tracking, local artifacts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from sklearn.linear_model import Ridge

from ssmas.core.registry import (
    ModelNotFound,
    ModelRegistry,
    ModelVersionInfo,
    RegistryError,
    registry_from_settings,
)
from ssmas.settings import Settings

pytestmark = pytest.mark.slow  # importing MLflow and migrating its database take seconds

SCHEMA = {
    "version": "floors-v3",
    "features": [{"name": "bid_eur", "type": "float64"}, "fill_rate", "hour"],
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    root = tmp_path_factory.mktemp("mlflow")
    return ModelRegistry(f"sqlite:///{root / 'mlflow.db'}", root / "mlartifacts")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.random((80, 3))
    return x, x @ np.array([2.0, -1.0, 0.5]) + rng.normal(0, 0.05, 80)


@pytest.fixture(scope="module")
def floors(
    registry: ModelRegistry, data: tuple[np.ndarray, np.ndarray]
) -> dict[int, tuple[Any, ModelVersionInfo]]:
    """Two XGBoost versions of the 'floors' model."""
    x, y = data
    out = {}
    for depth in (2, 4):
        model = xgb.XGBRegressor(n_estimators=8, max_depth=depth, random_state=0).fit(x, y)
        rmse = float(np.sqrt(np.mean((model.predict(x) - y) ** 2)))
        info = registry.log_model(
            "floors",
            model,
            flavor="xgboost",
            feature_schema=SCHEMA,
            metrics={"rmse": rmse},
            params={"max_depth": depth, "n_estimators": 8},
            tags={"trained_by": "test"},
        )
        out[info.version] = (model, info)
    return out


def test_log_model_registers_versions_with_metrics(
    floors: dict[int, tuple[Any, ModelVersionInfo]],
) -> None:
    assert sorted(floors) == [1, 2]
    info = floors[1][1]
    assert info.name == "floors" and info.flavor == "xgboost" and info.aliases == []
    assert info.feature_schema_version == "floors-v3"
    assert set(info.metrics) == {"rmse"} and info.metrics["rmse"] > 0
    assert info.run_id and info.created_at.tzinfo is not None


def test_one_version_by_number(
    registry: ModelRegistry, floors: dict[int, tuple[Any, ModelVersionInfo]]
) -> None:
    second = registry.get_version("floors", "2")
    assert (second.version, second.metrics) == (2, floors[2][1].metrics)
    for missing in (99, "latest", "champion"):
        with pytest.raises(ModelNotFound, match="has no version"):
            registry.get_version("floors", missing)


def test_artifacts_live_under_the_artifact_root(
    registry: ModelRegistry, floors: dict[int, tuple[Any, ModelVersionInfo]]
) -> None:
    mlmodels = list(registry.artifact_root.rglob("MLmodel"))
    assert len(mlmodels) >= 2
    text = mlmodels[0].read_text()
    assert "bid_eur" in text and "hour" in text  # the schema became the model signature


def test_aliases_load_the_right_model(
    registry: ModelRegistry,
    floors: dict[int, tuple[Any, ModelVersionInfo]],
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    x, _ = data
    registry.set_alias("floors", "champion", 1)
    registry.set_alias("floors", "challenger", 2)
    champion = registry.load("floors", "champion")
    challenger = registry.load("floors", "challenger")
    assert isinstance(champion, xgb.XGBRegressor)
    np.testing.assert_array_equal(champion.predict(x), floors[1][0].predict(x))
    np.testing.assert_array_equal(challenger.predict(x), floors[2][0].predict(x))
    assert not np.array_equal(champion.predict(x), challenger.predict(x))
    np.testing.assert_array_equal(registry.load("floors", 2).predict(x), challenger.predict(x))
    assert registry.load_feature_schema("floors", "champion") == SCHEMA
    got = registry.get_version_by_alias("floors", "champion")
    assert got is not None and got.version == 1 and got.aliases == ["champion"]


def test_list_moves_promote_and_rollback(
    registry: ModelRegistry, floors: dict[int, tuple[Any, ModelVersionInfo]]
) -> None:
    registry.set_alias("floors", "champion", 1)
    registry.set_alias("floors", "challenger", 2)
    listed = registry.list_versions("floors")
    assert [(v.version, v.aliases) for v in listed] == [(1, ["champion"]), (2, ["challenger"])]
    assert listed[1].metrics == floors[2][1].metrics

    promoted = registry.promote("floors", 2)
    assert promoted.version == 2 and promoted.aliases == ["champion"]
    assert [(v.version, v.aliases) for v in registry.list_versions("floors")] == [
        (1, []),
        (2, ["champion"]),
    ]

    restored = registry.rollback("floors")
    assert restored.version == 1
    assert registry.get_version_by_alias("floors", "champion").version == 1  # type: ignore[union-attr]
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.rollback("floors")

    registry.set_alias("floors", "shadow", 2)
    registry.delete_alias("floors", "shadow")
    assert registry.get_version_by_alias("floors", "shadow") is None


def test_sklearn_round_trip_and_latest(
    registry: ModelRegistry, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = data
    model = Ridge(alpha=0.3).fit(x, y)
    info = registry.log_model(
        "lead-score",
        model,
        flavor="sklearn",
        feature_schema={"features": {"a": "double", "b": "double", "c": "double"}},
        metrics={"r2": float(model.score(x, y))},
        params={"alpha": 0.3},
        experiment="campaigns",
    )
    assert info.version == 1 and info.feature_schema_version is None
    loaded = registry.load("lead-score", "latest")
    assert isinstance(loaded, Ridge)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def make_doubler() -> Any:
    """A tiny custom pyfunc model: the shape products use to wrap their own estimators.

    Built lazily so that MLflow is imported only after the registry has configured it;
    ``predict`` is unannotated because MLflow reads its type hints as an input schema.
    """
    import mlflow.pyfunc

    class DoubleIt(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return np.asarray(model_input, dtype=float) * 2.0

    return DoubleIt()


def test_pyfunc_round_trip(registry: ModelRegistry) -> None:
    assert registry.list_versions("doubler") == []
    info = registry.log_model(
        "doubler",
        make_doubler(),
        flavor="pyfunc",
        feature_schema={"version": 1},
        metrics={},
        params={},
    )
    assert info.feature_schema_version == "1" and info.flavor == "pyfunc"
    loaded = registry.load("doubler", info.version)
    np.testing.assert_array_equal(loaded.predict(np.array([[1.0, 2.5]])), [[2.0, 5.0]])
    assert type(loaded.unwrap_python_model()).__name__ == "DoubleIt"
    with pytest.raises(RegistryError, match="PythonModel"):
        registry.log_model(
            "doubler", object(), flavor="pyfunc", feature_schema={}, metrics={}, params={}
        )


def test_unknown_things_are_clear_errors(
    registry: ModelRegistry, floors: dict[int, tuple[Any, ModelVersionInfo]]
) -> None:
    assert registry.get_version_by_alias("floors", "nobody") is None
    assert registry.get_version_by_alias("no-such-model", "champion") is None
    assert registry.list_versions("no-such-model") == []
    with pytest.raises(ModelNotFound):
        registry.load("floors", 99)
    with pytest.raises(ModelNotFound):
        registry.set_alias("floors", "champion", 99)
    with pytest.raises(RegistryError, match="invalid model name"):
        registry.load("../etc", "champion")
    with pytest.raises(RegistryError, match="unknown flavor"):
        registry.log_model(
            "floors",
            object(),
            flavor="onnx",  # type: ignore[arg-type]
            feature_schema={},
            metrics={},
            params={},
        )
    with pytest.raises(RegistryError, match="finite"):
        registry.log_model(
            "floors",
            object(),
            flavor="xgboost",
            feature_schema={},
            metrics={"rmse": float("nan")},
            params={},
        )


def test_registry_from_settings_uses_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    registry = registry_from_settings(settings)
    assert registry.tracking_uri == settings.resolved_mlflow_uri
    assert registry.artifact_root == (tmp_path / "data" / "mlartifacts").resolve()
