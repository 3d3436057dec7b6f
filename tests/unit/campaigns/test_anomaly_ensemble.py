"""The anomaly ensemble on synthetic campaign metrics with injected anomalies: every detector
finds them, the rank-normalised ensemble's precision at top-k is at least the weakest member's,
and bad input is refused with a clear message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.anomaly import (
    DETECTORS,
    AnomalyEnsemble,
    AnomalyInputError,
    rank_normalise,
)
from ssmas.campaigns.anomaly.synthetic import injected_metrics, precision_at_k

N, K = 600, 20


def synthetic(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    return injected_metrics(N, K, seed)


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, np.ndarray, AnomalyEnsemble]:
    frame, truth = synthetic()
    return frame, truth, AnomalyEnsemble().fit(frame)


def test_ensemble_precision_at_k_beats_or_matches_the_weakest_member(
    fitted: tuple[pd.DataFrame, np.ndarray, AnomalyEnsemble],
) -> None:
    frame, truth, model = fitted
    scores = model.score(frame)
    assert set(scores.members) == set(DETECTORS)
    members = {name: precision_at_k(s, truth, K) for name, s in scores.members.items()}
    ensemble = precision_at_k(scores.ensemble, truth, K)
    # every member beats chance (K / N = 0.033) by far; Isolation Forest, splitting on one axis
    # at a time, is the weakest on rows that only break the metrics' correlations
    assert all(p >= 0.25 for p in members.values()), members
    assert ensemble >= min(members.values()), (ensemble, members)
    # here 0.85 against members 0.3 / 0.75 / 0.9 / 0.9, near the best member without knowing
    # which one that is (the mean of the members' ranks finds 0.75)
    assert ensemble > min(members.values()) and ensemble >= 0.85, (ensemble, members)
    mean_of_ranks = np.mean(np.vstack(list(scores.members.values())), axis=0)
    assert ensemble >= precision_at_k(mean_of_ranks, truth, K)
    # with k = the number injected, recall at k equals precision at k
    assert set(scores.top(K)) == set(np.argsort(-scores.ensemble, kind="stable")[:K])


def test_scores_are_ranks_in_the_unit_interval(
    fitted: tuple[pd.DataFrame, np.ndarray, AnomalyEnsemble],
) -> None:
    frame, _, model = fitted
    scores = model.score(frame)
    stacked = np.vstack([*scores.members.values(), scores.ensemble])
    assert stacked.min() >= 0 and stacked.max() <= 1
    # on its own training data every score is a rank: 0.5 / n, 1.5 / n, ... (n-0.5) / n
    expected = (np.arange(N) + 0.5) / N
    for row in stacked:
        np.testing.assert_allclose(np.sort(row), expected)


def test_a_new_far_away_row_scores_near_one_and_a_typical_row_does_not(
    fitted: tuple[pd.DataFrame, np.ndarray, AnomalyEnsemble],
) -> None:
    frame, truth, model = fitted
    typical = frame[~truth].median().to_frame().T
    far = typical.copy()
    far["click_rate"] = 0.5  # fifty times the usual click rate
    scores = model.score(pd.concat([typical, far], ignore_index=True))
    assert scores.ensemble[1] > 0.98
    assert scores.ensemble[0] < 0.6


def test_rank_normalise_is_the_share_of_training_scores_below() -> None:
    train = np.array([1.0, 2.0, 3.0, 4.0])
    out = rank_normalise(train, np.array([0.0, 2.5, 3.0, 9.0]))
    np.testing.assert_allclose(out, [0.0, 0.5, 0.625, 1.0])


def test_the_same_seed_gives_the_same_scores() -> None:
    frame, _ = synthetic(1)
    a = AnomalyEnsemble(seed=3).fit(frame).score(frame).ensemble
    b = AnomalyEnsemble(seed=3).fit(frame).score(frame).ensemble
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AnomalyEnsemble().fit(pd.DataFrame({"a": [1.0] * 5})), "at least 10 rows"),
        (lambda: AnomalyEnsemble().fit(pd.DataFrame({"a": [1.0, np.nan] * 10})), "missing"),
        (lambda: AnomalyEnsemble().fit(pd.DataFrame({"a": ["x"] * 20})), "non-numeric"),
        (lambda: AnomalyEnsemble().fit(np.ones(20)), "2-D"),
        (lambda: AnomalyEnsemble().score(np.ones((3, 2))), "fit the ensemble"),
        (lambda: AnomalyEnsemble(detectors=("nope",)), "detectors must be among"),
        (lambda: AnomalyEnsemble(contamination=0.7), "contamination"),
        (
            lambda: (
                AnomalyEnsemble()
                .fit(np.ones((20, 3)) + np.arange(20)[:, None])
                .score(np.ones((2, 2)))
            ),
            "fitted on 3 features",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(make: object, message: str) -> None:
    with pytest.raises(AnomalyInputError, match=message):
        make()  # type: ignore[operator]
