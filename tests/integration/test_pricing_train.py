"""Training from a real simulated lake through DuckDB, registered in a real MLflow registry."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from ssmas.core.registry import ModelNotFound
from ssmas.pricing.model.bundle import MODEL_NAME, ModelBundleError, load_from_registry
from ssmas.pricing.model.dataset import LakeError, LakeReader
from ssmas.pricing.model.training import TrainResult, evaluate_on_lake, train_from_lake
from ssmas.settings import Settings

from .pricing_support import START, clean_lake, fresh_registry

pytestmark = pytest.mark.slow
END = START + timedelta(days=2)
FAST = {"num_boost_round": 40}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_lake(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def result(lake: Path) -> TrainResult:
    return train_from_lake(lake, START, END, params=FAST)


def test_held_out_day_metrics_beat_honest_baselines(result: TrainResult) -> None:
    m = result.metrics
    assert result.split_kind == "days"
    assert result.days == [START + timedelta(days=i) for i in range(3)]
    assert m["test_rmse"] < m["baseline_segment_rmse"] < m["baseline_mean_rmse"]
    assert m["rmse_ratio_vs_segment_baseline"] == pytest.approx(
        m["test_rmse"] / m["baseline_segment_rmse"]
    )
    assert 0.7 <= m["interval80_coverage"] <= 0.9  # small day: loose bounds
    assert set(result.baselines) >= {"global_mean", "publisher_format_tier_device"}
    assert m["train_rows"] > 0 and m["calibration_rows"] > 0 and m["test_rows"] > 0


def test_the_schema_was_fitted_on_training_rows_only(lake: Path, result: TrainResult) -> None:
    reader = LakeReader(lake, START, END)
    try:
        assert result.model.schema.training_rows == reader.count("train", filled_only=True)
        assert reader.count("test", filled_only=True) == result.metrics["test_rows"]
    finally:
        reader.close()


def test_two_days_use_the_in_hour_block_split(lake: Path) -> None:
    res = train_from_lake(lake, START, START + timedelta(days=1), params=FAST)
    assert res.split_kind == "blocks"
    assert res.metrics["test_rmse"] < res.metrics["baseline_mean_rmse"]


def test_sampled_training_reads_fewer_rows(lake: Path, result: TrainResult) -> None:
    res = train_from_lake(lake, START, END, params=FAST, train_fraction=0.5)
    full = result.model.schema.training_rows
    assert 0.4 * full < res.model.schema.training_rows < 0.6 * full


def test_first_model_is_champion_then_challenger_and_bundles_round_trip(
    tmp_path: Path, lake: Path, result: TrainResult
) -> None:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    registry = fresh_registry(tmp_path.parent, settings)
    first = train_from_lake(lake, START, END, registry=registry, params=FAST)
    second = train_from_lake(lake, START, END, registry=registry, params={"num_boost_round": 10})
    assert (first.alias, second.alias) == ("champion", "challenger")
    assert first.info is not None and second.info is not None
    assert first.info.aliases == ["champion"]
    versions = {v.version: v for v in registry.list_versions(MODEL_NAME)}
    assert versions[second.info.version].aliases == ["challenger"]
    assert versions[first.info.version].metrics["test_rmse"] == pytest.approx(
        first.metrics["test_rmse"]
    )
    loaded = load_from_registry(registry, "champion")
    assert loaded.version == str(first.info.version)
    assert loaded.schema == first.model.schema
    reader = LakeReader(lake, START, END)
    try:
        again = evaluate_on_lake(loaded, reader)
    finally:
        reader.close()
    assert again["rmse"] == pytest.approx(first.metrics["test_rmse"], rel=1e-6)
    assert again["interval80_coverage"] == pytest.approx(first.metrics["interval80_coverage"])
    table = reader_rows(lake)
    for a, b in zip(loaded.predict_frame(table), first.model.predict_frame(table), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ModelNotFound):
        load_from_registry(registry, "99")


def reader_rows(lake: Path) -> object:
    reader = LakeReader(lake, END, END)
    try:
        return reader.sample("all", 500)
    finally:
        reader.close()


def test_a_foreign_model_is_not_a_pricing_bundle(tmp_path: Path) -> None:
    import xgboost as xgb

    settings = Settings(profile="test", data_dir=tmp_path / "data")
    registry = fresh_registry(tmp_path.parent, settings)
    x = np.random.default_rng(0).random((50, 3))
    booster = xgb.train({"nthread": 1}, xgb.DMatrix(x, label=x[:, 0]), 2)
    registry.log_model(
        MODEL_NAME, booster, flavor="xgboost", feature_schema={"version": 1}, metrics={}, params={}
    )
    with pytest.raises(ModelBundleError, match="not a pricing model bundle"):
        load_from_registry(registry, "latest")


def test_bad_ranges_are_clear_errors(lake: Path, tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="no lake"):
        train_from_lake(tmp_path / "nowhere", START, END)
    with pytest.raises(LakeError, match="no impressions"):
        train_from_lake(lake, date(2030, 1, 1), date(2030, 1, 3))
    with pytest.raises(LakeError, match="before"):
        train_from_lake(lake, END, START)
