"""The seed's four-member ensemble: cross-validated weights, predictions, confidence."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ssmas.campaigns.quality.ensemble import MEMBERS, LeadQualityEnsemble, gini_weights
from ssmas.campaigns.quality.features import lead_matrix
from ssmas.campaigns.quality.simulator import simulate_leads


@pytest.fixture(scope="module")
def fitted() -> tuple[LeadQualityEnsemble, np.ndarray, np.ndarray, np.ndarray]:
    train, test = simulate_leads(2500, seed=1), simulate_leads(3000, seed=2)
    ensemble = LeadQualityEnsemble(seed=0, folds=2, rounds=40)
    ensemble.fit(lead_matrix(train), train["converted"])
    return ensemble, lead_matrix(test), test["converted"].to_numpy(), test["true_p"].to_numpy()


def test_weights_follow_the_cross_validated_skill(fitted) -> None:  # type: ignore[no-untyped-def]
    ensemble = fitted[0]
    assert set(ensemble.weights_) == set(MEMBERS)
    assert sum(ensemble.weights_.values()) == pytest.approx(1.0)
    skill = {n: 2 * auc - 1 for n, auc in ensemble.cv_auc_.items()}
    best, worst = max(skill, key=skill.__getitem__), min(skill, key=skill.__getitem__)
    assert ensemble.weights_[best] >= ensemble.weights_[worst]
    assert all(0.55 < auc < 0.9 for auc in ensemble.cv_auc_.values())


def test_gini_weights() -> None:
    assert gini_weights({"a": 0.75, "b": 0.625}) == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    # a member no better than chance gets nothing; none better than chance: equal weights
    assert gini_weights({"a": 0.7, "b": 0.45})["b"] == 0.0
    assert gini_weights({"a": 0.5, "b": 0.4}) == {"a": 0.5, "b": 0.5}


def test_the_ensemble_recovers_the_ground_truth(fitted) -> None:  # type: ignore[no-untyped-def]
    ensemble, x, y, true_p = fitted
    p = ensemble.predict_proba(x)
    assert p.shape == (len(y),) and ((p >= 0) & (p <= 1)).all()
    assert roc_auc_score(y, p) > 0.7
    assert np.corrcoef(p, true_p)[0, 1] > 0.8
    assert abs(p.mean() - y.mean()) < 0.03


def test_quality_and_spread(fitted) -> None:  # type: ignore[no-untyped-def]
    ensemble, x, _, _ = fitted
    quality, spread = ensemble.predict_with_confidence(x[:50])
    members = ensemble.member_probabilities(x[:50])
    np.testing.assert_allclose(quality, 100 * ensemble.predict_proba(x[:50]))
    np.testing.assert_allclose(spread, 100 * members.std(axis=0))
    assert (spread >= 0).all() and spread.max() > 0
    assert set(ensemble.tree_counts()) == {"xgboost", "lightgbm", "gradient_boosting"}
    assert all(1 <= n <= 40 for n in ensemble.tree_counts().values())


def test_refuses_a_single_class() -> None:
    x = lead_matrix(simulate_leads(50, seed=0))
    with pytest.raises(ValueError, match="both converted and unconverted"):
        LeadQualityEnsemble().fit(x, np.zeros(50))
    with pytest.raises(ValueError, match="not fitted"):
        LeadQualityEnsemble().predict_proba(x)
