"""Lead-quality ensembles in the MLflow registry: champion, challenger, loading back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssmas.campaigns.quality.features import LEAD_FIELDS, lead_matrix
from ssmas.campaigns.quality.lifecycle import (
    MODEL_NAME,
    TrainConfig,
    load,
    train_and_decide,
)
from ssmas.campaigns.quality.simulator import simulate_leads
from ssmas.core.registry import CHALLENGER, CHAMPION, ModelNotFound, ModelRegistry

pytestmark = pytest.mark.slow  # importing MLflow and migrating its database take seconds

SMALL = {"leads": 800, "test_leads": 1500, "folds": 2, "rounds": 15}


def test_first_model_is_champion_then_a_challenger_must_beat_it(tmp_path: Path) -> None:
    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlartifacts")
    with pytest.raises(ModelNotFound):
        load(registry)
    first = train_and_decide(registry, TrainConfig(seed=1, **SMALL))
    assert first.outcome == "bootstrapped"
    assert registry.get_version_by_alias(MODEL_NAME, CHAMPION).version == first.version  # type: ignore[union-attr]
    assert 0.6 < first.auc < 0.9
    assert first.metrics["ensemble_vs_best_single"] == pytest.approx(
        first.auc / first.metrics["best_single_auc"]
    )

    # An unreachable bar: the new version stays challenger, the champion is untouched.
    second = train_and_decide(registry, TrainConfig(seed=2, min_improvement=0.4, **SMALL))
    assert second.outcome == "kept_champion"
    assert second.champion_version == first.version
    assert second.champion_auc is not None and "kept as challenger" in second.reason
    assert registry.get_version_by_alias(MODEL_NAME, CHALLENGER).version == second.version  # type: ignore[union-attr]
    assert registry.get_version_by_alias(MODEL_NAME, CHAMPION).version == first.version  # type: ignore[union-attr]

    # Loaded back, the champion predicts what it predicted before; MLflow's pyfunc agrees.
    champion, version = load(registry, CHAMPION)
    assert version == first.version
    leads = simulate_leads(200, seed=5)
    quality, spread = champion.predict_with_confidence(lead_matrix(leads))
    pyfunc = registry.load(MODEL_NAME, CHAMPION)
    answer = pyfunc.predict(leads[list(LEAD_FIELDS)])
    np.testing.assert_allclose(answer["quality"].to_numpy(), quality)
    np.testing.assert_allclose(answer["spread"].to_numpy(), spread)
    info = {v.version: v for v in registry.list_versions(MODEL_NAME)}[first.version]
    assert {"test_auc", "cv_auc_xgboost", "weight_lightgbm"} <= set(info.metrics)

    # Promotion and rollback are the registry's own.
    registry.promote(MODEL_NAME, second.version)
    assert load(registry, CHAMPION)[1] == second.version
    registry.rollback(MODEL_NAME)
    assert load(registry, CHAMPION)[1] == first.version
