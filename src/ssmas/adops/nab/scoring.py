"""NAB scoring, pure: anomaly windows, the scaled sigmoid, the probationary period, the sweep.

Follows the Numenta Anomaly Benchmark's scorer (``nab/sweeper.py``). Each scorable row gets a
weight: inside an anomaly window, the scaled sigmoid of its relative position (1 at the window's
left edge, falling to 0 at its right edge) times ``tp``; outside, -1 before any window, or the
scaled sigmoid of the distance past the previous window (0 at its edge, towards -1 beyond it)
times ``fp``. A detection is a row whose anomaly score is at least the threshold. A file's raw
score sums the weights of detections outside windows, plus for each window the weight of its
best (earliest) detection, or ``-fn`` when nothing in it was detected. The first 15% of a file
(at most 750 rows) is probationary and not scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "PROBATION_PERCENT",
    "CostMatrix",
    "FileLayout",
    "FileScore",
    "Sweep",
    "everything_score",
    "layout_file",
    "normalised",
    "probationary_length",
    "scaled_sigmoid",
    "score_file",
    "sweep_corpus",
]

PROBATION_PERCENT = 0.15
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CostMatrix:
    """One NAB profile's weights (``config/profiles.json``'s ``CostMatrix``)."""

    tp: float
    fp: float
    fn: float


def scaled_sigmoid(position: FloatArray) -> FloatArray:
    """``2·sigmoid(-5·position) - 1``, and -1 beyond 3 (NAB's ``scaledSigmoid``)."""
    # past 3 the value is -1 anyway; clipping keeps exp from overflowing far from any window
    value = 2.0 / (1.0 + np.exp(5.0 * np.minimum(position, 4.0))) - 1.0
    return np.where(position > 3.0, -1.0, value)


MAX_TP = float(scaled_sigmoid(np.array([-1.0]))[0])


def probationary_length(rows: int, percent: float = PROBATION_PERCENT) -> int:
    """Rows at the start of a file that are not scored: 15% of the file, at most 750."""
    return int(min(math.floor(percent * rows), percent * 5000))


@dataclass(frozen=True)
class FileLayout:
    """Where one file's rows stand against its windows; independent of the detector.

    ``window``: index of the row's window in the file, -1 outside windows. ``unit``: the row's
    weight before the profile (inside a window already divided by the left edge's value, so the
    earliest detection is worth exactly ``tp``). ``scorable``: past the probationary period.
    ``windows``: how many windows have a scorable row (each is a possible miss).
    """

    name: str
    window: IntArray
    unit: FloatArray
    scorable: npt.NDArray[np.bool_]
    windows: int
    labelled_windows: int

    def weights(self, cost: CostMatrix) -> FloatArray:
        return np.where(self.window >= 0, self.unit * cost.tp, self.unit * cost.fp)


def layout_file(
    name: str,
    rows: int,
    bounds: Sequence[tuple[int, int]],
    probation_percent: float = PROBATION_PERCENT,
) -> FileLayout:
    """Lay out a file of ``rows`` rows whose windows span rows ``[left, right]`` (inclusive)."""
    window = np.full(rows, -1, dtype=np.int64)
    unit = np.full(rows, -1.0)
    index = np.arange(rows, dtype=np.float64)
    previous: tuple[int, int] | None = None
    for k, (left, right) in enumerate(sorted(bounds)):
        if not 0 <= left <= right < rows:
            raise ValueError(f"{name}: window rows {left}..{right} outside 0..{rows - 1}")
        if previous is not None and left <= previous[1]:
            raise ValueError(f"{name}: windows overlap at row {left}")
        width = right - left + 1
        inside = slice(left, right + 1)
        window[inside] = k
        unit[inside] = scaled_sigmoid(-(right - index[inside] + 1) / width) / MAX_TP
        end = rows if k + 1 == len(bounds) else sorted(bounds)[k + 1][0]
        after = slice(right + 1, end)
        # NAB divides by (width - 1); a one-row window would divide by zero there
        past = (index[after] - right) / max(width - 1, 1)
        unit[after] = scaled_sigmoid(past)
        previous = (left, right)
    scorable = np.arange(rows) >= probationary_length(rows, probation_percent)
    scored_windows = len(np.unique(window[scorable & (window >= 0)]))
    return FileLayout(name, window, unit, scorable, scored_windows, len(bounds))


@dataclass(frozen=True)
class FileScore:
    """A file's raw NAB score at one threshold, with its row counts (scorable rows only)."""

    score: float
    tp: int
    fp: int
    tn: int
    fn: int


def score_file(
    layout: FileLayout, scores: FloatArray, threshold: float, cost: CostMatrix
) -> FileScore:
    """Raw score of one file's anomaly scores when ``score >= threshold`` is a detection."""
    if len(scores) != len(layout.window):
        raise ValueError(f"{layout.name}: {len(scores)} scores for {len(layout.window)} rows")
    weights = layout.weights(cost)
    detected = (scores >= threshold) & layout.scorable
    inside = layout.window >= 0
    total = float(weights[detected & ~inside].sum())
    for k in np.unique(layout.window[layout.scorable & inside]):
        hits = detected & (layout.window == k)
        total += float(weights[hits].max()) if hits.any() else -cost.fn
    counted = layout.scorable
    return FileScore(
        score=total,
        tp=int((detected & inside).sum()),
        fp=int((detected & ~inside).sum()),
        tn=int((counted & ~detected & ~inside).sum()),
        fn=int((counted & ~detected & inside).sum()),
    )


def everything_score(layouts: Sequence[FileLayout], cost: CostMatrix) -> float:
    """Raw corpus score when every scorable row is a detection."""
    ones = [np.ones(len(lay.window)) for lay in layouts]
    return sum(score_file(lay, s, 0.0, cost).score for lay, s in zip(layouts, ones, strict=True))


@dataclass(frozen=True)
class Sweep:
    """Raw corpus score at every distinct threshold, highest threshold first.

    ``thresholds[0]`` is above every score (nothing detected); ``best()`` is NAB's optimiser:
    the threshold with the highest corpus score (the highest such threshold on ties).
    """

    thresholds: FloatArray
    scores: FloatArray

    def best(self) -> tuple[float, float]:
        i = int(np.argmax(self.scores))
        return float(self.thresholds[i]), float(self.scores[i])


def sweep_corpus(
    layouts: Sequence[FileLayout], all_scores: Sequence[FloatArray], cost: CostMatrix
) -> Sweep:
    """NAB's threshold sweep over a whole corpus, vectorised.

    Lowering the threshold past a row's score adds its weight if it lies outside windows; inside
    a window it raises the window's value to the best weight detected so far (from ``-fn``).
    Those changes are events keyed by score; the score at a threshold is the base plus the
    events at or above it.
    """
    keys: list[FloatArray] = []
    deltas: list[FloatArray] = []
    base = 0.0
    for layout, scores in zip(layouts, all_scores, strict=True):
        if len(scores) != len(layout.window):
            raise ValueError(f"{layout.name}: {len(scores)} scores for {len(layout.window)} rows")
        weights = layout.weights(cost)
        outside = layout.scorable & (layout.window < 0)
        keys.append(scores[outside])
        deltas.append(weights[outside])
        base -= cost.fn * layout.windows
        for k in np.unique(layout.window[layout.scorable & (layout.window >= 0)]):
            rows = np.flatnonzero(layout.scorable & (layout.window == k))
            order = rows[np.argsort(-scores[rows], kind="stable")]
            best = np.maximum.accumulate(weights[order])
            keys.append(scores[order])
            deltas.append(np.diff(best, prepend=-cost.fn))
    key = np.concatenate(keys) if keys else np.empty(0)
    delta = np.concatenate(deltas) if deltas else np.empty(0)
    order = np.argsort(-key, kind="stable")
    key, running = key[order], base + np.cumsum(delta[order])
    # the score at threshold t counts every event with key >= t: the last of each run of equal keys
    last = np.flatnonzero(np.append(key[1:] != key[:-1], True)) if len(key) else np.empty(0, int)
    top = max(1.1, float(key[0]) + 0.1) if len(key) else 1.1
    return Sweep(np.append(top, key[last]), np.append(base, running[last]))


def normalised(raw: float, null: float, perfect: float) -> float | None:
    """NAB's final score ``100·(raw - null)/(perfect - null)``; None when the two coincide."""
    if math.isclose(perfect, null):
        return None
    return 100.0 * (raw - null) / (perfect - null)
