"""NAB scoring: a hand-checked file, the sweep against direct scoring, the windows' edges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssmas.adops.nab.scoring import (
    CostMatrix,
    layout_file,
    normalised,
    probationary_length,
    scaled_sigmoid,
    score_file,
    sweep_corpus,
)

STANDARD = CostMatrix(tp=1.0, fp=0.11, fn=1.0)
LOW_FN = CostMatrix(tp=1.0, fp=0.11, fn=2.0)


def test_scaled_sigmoid_reference_points() -> None:
    # NAB's docstring: -1 → 0.98661, -0.5 → 0.84828, 0 → 0, 1 → -0.98661, beyond 3 → -1
    got = scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 3.0, 3.01]))
    assert got[:4] == pytest.approx([0.98661, 0.84828, 0.0, -0.98661], abs=1e-5)
    assert got[4] == pytest.approx(2 / (1 + math.exp(15)) - 1)
    assert got[5] == -1.0


def test_probationary_period_is_15_percent_capped_at_750_rows() -> None:
    assert probationary_length(20) == 3
    assert probationary_length(4032) == 604
    assert probationary_length(22695) == 750


def test_hand_checked_small_file() -> None:
    # 20 rows; probation = floor(0.15 * 20) = 3 rows (0, 1, 2); one window on rows 8..11 (width 4).
    # Scores: row 1 = 0.9 (probationary: ignored), row 5 = 0.6 (before any window),
    # row 9 = 0.7 and row 10 = 0.95 (in the window), row 14 = 0.8 (after it). Threshold 0.6:
    #   row 5: no window before it → -1 · fp = -0.11
    #   row 9: position -(11 - 9 + 1)/4 = -0.75 → 2·sigmoid(3.75) - 1 = 0.9540453; divided by
    #          the left edge's 2·sigmoid(5) - 1 = 0.9866143 → 0.9669891 · tp. Row 10 is later in
    #          the window (worth less), so the window counts row 9 only.
    #   row 14: (14 - 11)/(4 - 1) = 1.0 past the window → 2·sigmoid(-5) - 1 = -0.9866143 · 0.11
    #          = -0.1085276
    #   raw = -0.11 + 0.9669891 - 0.1085276 = 0.7484615
    layout = layout_file("hand.csv", 20, [(8, 11)])
    scores = np.zeros(20)
    scores[[1, 5, 9, 10, 14]] = [0.9, 0.6, 0.7, 0.95, 0.8]
    got = score_file(layout, scores, 0.6, STANDARD)
    assert got.score == pytest.approx(0.7484615, abs=1e-7)
    # counts over the 17 scorable rows: tp rows 9, 10; fp rows 5, 14; fn rows 8, 11
    assert (got.tp, got.fp, got.fn, got.tn) == (2, 2, 2, 11)
    # at 0.65 row 5 drops out: +0.11; above 0.95 nothing is detected: the window is a miss
    assert score_file(layout, scores, 0.65, STANDARD).score == pytest.approx(0.8584615, abs=1e-7)
    assert score_file(layout, scores, 0.96, STANDARD).score == -1.0
    assert score_file(layout, scores, 0.96, LOW_FN).score == -2.0


def test_window_left_edge_is_worth_exactly_tp() -> None:
    layout = layout_file("edge.csv", 100, [(40, 49)])
    scores = np.zeros(100)
    scores[40] = 1.0
    assert score_file(layout, scores, 0.5, STANDARD).score == pytest.approx(1.0)
    scores[40], scores[49] = 0.0, 1.0  # the last row of the window: position -1/10
    expected = (2 / (1 + math.exp(0.5)) - 1) / (2 / (1 + math.exp(5)) - 1)
    assert score_file(layout, scores, 0.5, STANDARD).score == pytest.approx(expected)


def test_sweep_equals_direct_scoring_at_every_threshold() -> None:
    rng = np.random.default_rng(7)
    layouts = [
        layout_file("a.csv", 300, [(100, 129), (200, 239)]),
        layout_file("b.csv", 150, []),
        layout_file("c.csv", 400, [(60, 61), (300, 399)]),
    ]
    # rounded scores make ties, which the sweep must group as NAB does
    scores = [np.round(rng.random(len(lay.window)), 2) for lay in layouts]
    for cost in (STANDARD, LOW_FN):
        sweep = sweep_corpus(layouts, scores, cost)
        assert sweep.scores[0] == -cost.fn * 4  # nothing detected: every window missed
        for threshold, raw in zip(sweep.thresholds, sweep.scores, strict=True):
            direct = sum(
                score_file(lay, s, threshold, cost).score
                for lay, s in zip(layouts, scores, strict=True)
            )
            assert raw == pytest.approx(direct, abs=1e-9)
        threshold, best = sweep.best()
        assert best == pytest.approx(max(sweep.scores))
        assert threshold == sweep.thresholds[int(np.argmax(sweep.scores))]


def test_sweep_picks_the_threshold_that_separates_windows_from_noise() -> None:
    layout = layout_file("one.csv", 200, [(100, 119)])
    scores = np.full(200, 0.1)
    scores[100] = 0.9  # detection at the window's left edge
    scores[150] = 0.5  # a false positive below it
    threshold, raw = sweep_corpus([layout], [scores], STANDARD).best()
    assert threshold == 0.9 and raw == pytest.approx(1.0)


def test_windows_must_fit_the_file_and_not_overlap() -> None:
    with pytest.raises(ValueError, match="outside"):
        layout_file("x.csv", 10, [(5, 10)])
    with pytest.raises(ValueError, match="overlap"):
        layout_file("x.csv", 50, [(10, 20), (20, 30)])
    with pytest.raises(ValueError, match="3 scores for 10 rows"):
        score_file(layout_file("x.csv", 10, []), np.zeros(3), 0.5, STANDARD)


def test_normalised_score() -> None:
    assert normalised(-39.0, -39.0, 39.0) == 0.0
    assert normalised(39.0, -39.0, 39.0) == 100.0
    assert normalised(15.6, -39.0, 39.0) == pytest.approx(70.0)
    assert normalised(-1.0, 0.0, 0.0) is None
