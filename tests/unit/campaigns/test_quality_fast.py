"""Differential tests: the fast scorer (native predictors on arrays, and the compiled numpy
forest for a few leads) against the libraries' own ``predict_proba``."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.campaigns.quality.ensemble import LeadQualityEnsemble
from ssmas.campaigns.quality.fast import FOREST_ROWS, FastScorer
from ssmas.campaigns.quality.features import LEAD_FIELDS, N_FEATURES, LeadFeatureError, lead_matrix
from ssmas.campaigns.quality.forest import compile_members
from ssmas.campaigns.quality.simulator import simulate_leads

# XGBoost sums its leaves in float32: its probabilities agree to about 1e-7.
ATOL = 1e-6


@pytest.fixture(scope="module")
def ensemble() -> LeadQualityEnsemble:
    train = simulate_leads(2500, seed=21)
    return LeadQualityEnsemble(seed=3, folds=2, rounds=60).fit(
        lead_matrix(train), train["converted"]
    )


@pytest.fixture(scope="module")
def x(ensemble: LeadQualityEnsemble) -> np.ndarray:
    matrix = lead_matrix(simulate_leads(3000, seed=22))
    # Values exactly on XGBoost's split values are where "<" and "<=" differ: include them.
    frame = ensemble.models_["xgboost"].get_booster().trees_to_dataframe()
    splits = frame[frame["Feature"] != "Leaf"].head(300)
    on_split = matrix[: len(splits)].copy()
    for i, (feature, value) in enumerate(zip(splits["Feature"], splits["Split"], strict=True)):
        on_split[i, int(feature[1:])] = np.float32(value)
    return np.vstack([matrix, on_split])


def test_native_path_equals_the_libraries(ensemble: LeadQualityEnsemble, x: np.ndarray) -> None:
    fast = FastScorer(ensemble)
    np.testing.assert_allclose(
        fast.native_probabilities(x), ensemble.member_probabilities(x), atol=ATOL, rtol=0
    )


def test_compiled_forest_equals_the_libraries(ensemble: LeadQualityEnsemble, x: np.ndarray) -> None:
    fast = FastScorer(ensemble)
    reference = ensemble.member_probabilities(x)
    np.testing.assert_allclose(fast.small_probabilities(x), reference, atol=ATOL, rtol=0)
    for i in range(0, 300, 7):  # the one-lead path of the walk
        np.testing.assert_allclose(
            fast.small_probabilities(x[i : i + 1])[:, 0], reference[:, i], atol=ATOL, rtol=0
        )


def test_forest_holds_every_tree_and_each_member_margin(ensemble: LeadQualityEnsemble) -> None:
    names, forest = compile_members(
        {n: m for n, m in ensemble.models_.items() if n != "neural_network"}, N_FEATURES
    )
    assert names == ["xgboost", "lightgbm", "gradient_boosting"]
    assert forest.roots.size == sum(ensemble.tree_counts().values())
    assert 1 <= forest.depth <= 6
    x = lead_matrix(simulate_leads(50, seed=9))
    gb = ensemble.models_["gradient_boosting"]
    np.testing.assert_allclose(forest.margins(x)[2], gb.decision_function(x), atol=1e-9)


def test_scores_follow_the_ensemble(ensemble: LeadQualityEnsemble, x: np.ndarray) -> None:
    fast = FastScorer(ensemble, version="7")
    quality, spread = ensemble.predict_with_confidence(x)
    for rows in (x, x[:FOREST_ROWS], x[:1]):
        scores = fast.score(rows)
        n = rows.shape[0]
        np.testing.assert_allclose(scores.quality, quality[:n], atol=1e-4)
        np.testing.assert_allclose(scores.spread, spread[:n], atol=1e-4)
        assert ((scores.confidence >= 0) & (scores.confidence <= 1)).all()
    assert fast.version == "7"


def test_the_one_lead_row_scores_as_its_frame_row(ensemble: LeadQualityEnsemble) -> None:
    from ssmas.campaigns.quality.features import lead_row

    leads = simulate_leads(20, seed=4)
    fast = FastScorer(ensemble)
    batch = fast.score(lead_matrix(leads))
    for i, record in enumerate(leads[list(LEAD_FIELDS)].to_dict("records")):
        one = fast.score(lead_row(record))
        assert one.quality[0] == pytest.approx(batch.quality[i], abs=1e-6)


def test_wrong_shapes_are_refused(ensemble: LeadQualityEnsemble) -> None:
    with pytest.raises(LeadFeatureError, match="expected a"):
        FastScorer(ensemble).score(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="not fitted"):
        FastScorer(LeadQualityEnsemble())
