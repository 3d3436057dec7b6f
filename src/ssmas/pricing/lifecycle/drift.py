"""Data drift against the training baseline: KS / total variation per feature, PSI, seed levels.

Per feature, the **score** is a distance in [0, 1]: the two-sample Kolmogorov-Smirnov statistic
``sup |F_train - F_now|`` for numeric features, the total variation distance
``1/2 sum |p_train - p_now|`` (KS's analogue for unordered categories) for categorical ones. The
global score is the mean of the feature scores (as in seed 003's drift Lambda; ``max`` on request)
and the seed's levels apply to these statistics themselves, never to p-values (at 50M rows every
p-value is zero): ``<= 0.3 OK``, ``> 0.3 INFO``, ``> 0.5 WARNING``, ``> 0.7 CRITICAL``. PSI
(training-quantile bins, or one bin per category) is reported beside it and drives nothing.

Cyclic (calendar) features are compared like for like: a window of Tuesday traffic is compared
with the training rows of the same calendar positions (the baseline restricted to the weekdays /
hours present in the window and renormalised), so unchanged traffic scores 0 whatever day it is.
Positions the training never saw have no reference: their share is reported
(``unreferenced_share``) and scores nothing; a feature with no reference at all (a Saturday
against Monday-Wednesday training) is left out of the global score. The label (clearing price)
has its own baseline: :func:`label_shift` is the relative move of its median, the price-level
drift that feature drift cannot see.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

FeatureKind = Literal["numeric", "categorical"]
DriftLevel = Literal["OK", "INFO", "WARNING", "CRITICAL"]
DriftAction = Literal["retrain_now", "schedule_retraining", "monitor_only"]
Aggregate = Literal["mean", "max"]
FloatArray = npt.NDArray[np.float64]

INFO_ABOVE, WARNING_ABOVE, CRITICAL_ABOVE = 0.3, 0.5, 0.7
BASELINE_GRID = 100
PSI_BINS = 10
PSI_EPSILON = 1e-4


class DriftError(ValueError):
    """Drift cannot be computed (no rows, a feature missing from the baseline...)."""


class FeatureBaseline(BaseModel):
    """A training distribution, small enough to store in the feature schema.

    Numeric: ``edges`` (sorted support points: every distinct value when there are at most
    ``grid`` of them, training quantiles otherwise) with ``cdf = P(X <= edge)`` and
    ``cdf_left = P(X < edge)``, exact at the edges. Categorical: ``categories`` and their
    ``proportions``. ``missing`` is the share of NaN, kept out of both.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FeatureKind
    n: int = Field(ge=1)
    missing: float = Field(default=0.0, ge=0.0, le=1.0)
    edges: list[float] = Field(default_factory=list)
    cdf: list[float] = Field(default_factory=list)
    cdf_left: list[float] = Field(default_factory=list)
    categories: list[float] = Field(default_factory=list)
    proportions: list[float] = Field(default_factory=list)


class FeatureDrift(BaseModel):
    """One feature's drift: its score (KS or TVD), PSI and the seed level of the score."""

    name: str
    kind: FeatureKind
    statistic: Literal["ks", "tvd", "tvd_same_period"]
    score: float
    psi: float
    missing_share: float
    level: DriftLevel
    unreferenced_share: float = 0.0


class DriftReport(BaseModel):
    """Drift of a window of traffic against the training baseline, with the workflow's action."""

    n_rows: int
    aggregate: Aggregate
    score: float
    level: DriftLevel
    action: DriftAction
    requires_retraining: bool
    features: list[FeatureDrift]


def drift_level(score: float) -> DriftLevel:
    """Seed ``determine_alert_level``: thresholds are strict (0.5 exactly is still INFO)."""
    if score > CRITICAL_ABOVE:
        return "CRITICAL"
    if score > WARNING_ABOVE:
        return "WARNING"
    if score > INFO_ABOVE:
        return "INFO"
    return "OK"


def drift_action(score: float) -> DriftAction:
    """Seed Step Functions choice: > 0.7 retrain now, > 0.5 schedule retraining, else monitor."""
    if score > CRITICAL_ABOVE:
        return "retrain_now"
    if score > WARNING_ABOVE:
        return "schedule_retraining"
    return "monitor_only"


def build_baseline(
    values: npt.ArrayLike, kind: FeatureKind, *, grid: int = BASELINE_GRID
) -> FeatureBaseline:
    """Summarise a training column into a :class:`FeatureBaseline`."""
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        raise DriftError("cannot build a baseline from an empty column")
    nan = np.isnan(data)
    present = np.sort(data[~nan])
    missing = float(nan.mean())
    if kind == "categorical":
        cats, counts = np.unique(present, return_counts=True)
        return FeatureBaseline(
            kind=kind,
            n=int(data.size),
            missing=missing,
            categories=cats.tolist(),
            proportions=(counts / data.size).tolist(),
        )
    if present.size == 0:
        return FeatureBaseline(kind=kind, n=int(data.size), missing=missing)
    distinct = np.unique(present)
    if distinct.size > grid:
        distinct = np.unique(np.quantile(present, np.linspace(0.0, 1.0, grid + 1)))
    return FeatureBaseline(
        kind=kind,
        n=int(data.size),
        missing=missing,
        edges=distinct.tolist(),
        cdf=(np.searchsorted(present, distinct, side="right") / present.size).tolist(),
        cdf_left=(np.searchsorted(present, distinct, side="left") / present.size).tolist(),
    )


def ks_statistic(baseline: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """Exact two-sample KS statistic between two raw samples (NaN dropped)."""
    a = np.sort(_present(baseline))
    b = np.sort(_present(current))
    if a.size == 0 or b.size == 0:
        raise DriftError("KS needs at least one value in each sample")
    points = np.concatenate([a, b])
    fa = np.searchsorted(a, points, side="right") / a.size
    fb = np.searchsorted(b, points, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def compare_feature(
    name: str, baseline: FeatureBaseline, current: npt.ArrayLike, *, cyclic: bool = False
) -> FeatureDrift:
    """Drift of one current column against its training baseline (``cyclic``: like for like)."""
    data = np.asarray(current, dtype=np.float64).ravel()
    if data.size == 0:
        raise DriftError(f"no current values for feature {name!r}")
    nan = np.isnan(data)
    present = np.sort(data[~nan])
    if cyclic:
        score, psi, unreferenced = _same_period_distances(baseline, present)
        return FeatureDrift(
            name=name,
            kind=baseline.kind,
            statistic="tvd_same_period",
            score=score,
            psi=psi,
            missing_share=float(nan.mean()),
            level=drift_level(score),
            unreferenced_share=unreferenced,
        )
    if baseline.kind == "categorical":
        score, psi = _categorical_distances(baseline, data)
        statistic: Literal["ks", "tvd"] = "tvd"
    else:
        score, psi = _numeric_distances(baseline, present)
        statistic = "ks"
    return FeatureDrift(
        name=name,
        kind=baseline.kind,
        statistic=statistic,
        score=score,
        psi=psi,
        missing_share=float(nan.mean()),
        level=drift_level(score),
    )


def compute_drift(
    baselines: Mapping[str, FeatureBaseline],
    current: npt.ArrayLike | Mapping[str, npt.ArrayLike],
    feature_names: Sequence[str],
    *,
    aggregate: Aggregate = "mean",
    cyclic: Collection[str] = (),
) -> DriftReport:
    """Drift of ``current`` (a matrix with ``feature_names`` as columns, or named columns);
    the features named in ``cyclic`` are compared with the same calendar positions only."""
    if isinstance(current, Mapping):
        columns = {name: np.asarray(current[name]) for name in feature_names if name in current}
        n_rows = len(next(iter(columns.values()))) if columns else 0
    else:
        matrix = np.asarray(current)
        if matrix.ndim != 2 or matrix.shape[1] != len(feature_names):
            raise DriftError(f"expected a (rows, {len(feature_names)}) matrix, got {matrix.shape}")
        columns = {name: matrix[:, i] for i, name in enumerate(feature_names)}
        n_rows = int(matrix.shape[0])
    if n_rows == 0:
        raise DriftError("no rows to compare against the baseline")
    unknown = [name for name in columns if name not in baselines]
    if unknown:
        raise DriftError(f"no training baseline for features: {', '.join(unknown)}")
    drifts = [
        compare_feature(name, baselines[name], col, cyclic=name in cyclic)
        for name, col in columns.items()
    ]
    # A calendar feature with no training reference at all says nothing: left out of the score.
    scores = [d.score for d in drifts if d.unreferenced_share < 1.0] or [0.0]
    score = float(np.max(scores) if aggregate == "max" else np.mean(scores))
    return DriftReport(
        n_rows=n_rows,
        aggregate=aggregate,
        score=score,
        level=drift_level(score),
        action=drift_action(score),
        requires_retraining=score > WARNING_ABOVE,
        features=drifts,
    )


def label_shift(baseline: FeatureBaseline, current: npt.ArrayLike) -> float:
    """Relative move of the median price: ``median_now / median_train - 1`` (0 when either side
    has no price). A +20% price level scores about 0.2 whatever the price spread."""
    present = _present(current)
    if present.size == 0 or not baseline.edges:
        return 0.0
    cdf = np.asarray(baseline.cdf)
    idx = min(int(np.searchsorted(cdf, 0.5, side="left")), cdf.size - 1)
    reference = float(baseline.edges[idx])
    if reference <= 0.0:
        return 0.0
    return float(np.median(present)) / reference - 1.0


def _same_period_distances(
    baseline: FeatureBaseline, present: FloatArray
) -> tuple[float, float, float]:
    """TVD and PSI against the baseline restricted to the positions seen now; the share of
    current values at positions the baseline never saw."""
    if baseline.kind == "categorical":
        positions = np.asarray(baseline.categories, dtype=np.float64)
        mass = np.asarray(baseline.proportions, dtype=np.float64)
    else:
        positions = np.asarray(baseline.edges, dtype=np.float64)
        mass = np.asarray(baseline.cdf, dtype=np.float64) - np.asarray(baseline.cdf_left)
    if present.size == 0:
        return 0.0, 0.0, 0.0
    values, counts = np.unique(present, return_counts=True)
    shared = np.isin(values, positions)
    unreferenced = float(counts[~shared].sum() / present.size)
    if not shared.any():
        return 0.0, 0.0, unreferenced
    now = counts[shared] / counts[shared].sum()
    base = mass[np.searchsorted(positions, values[shared])]
    if base.sum() <= 0.0:
        return 0.0, 0.0, unreferenced
    base = base / base.sum()
    tvd = 0.5 * float(np.sum(np.abs(base - now)))
    return min(tvd, 1.0), _psi(base, now), unreferenced


def _present(values: npt.ArrayLike) -> FloatArray:
    data = np.asarray(values, dtype=np.float64).ravel()
    return data[~np.isnan(data)]


def _numeric_distances(baseline: FeatureBaseline, present: FloatArray) -> tuple[float, float]:
    edges = np.asarray(baseline.edges)
    if edges.size == 0 and present.size == 0:
        return 0.0, 0.0
    if edges.size == 0 or present.size == 0:
        # One side has no values at all: nothing of one distribution is found in the other.
        return 1.0, _psi([1.0], [0.0])
    base_right, base_left = np.asarray(baseline.cdf), np.asarray(baseline.cdf_left)
    now_right = np.searchsorted(present, edges, side="right") / present.size
    now_left = np.searchsorted(present, edges, side="left") / present.size
    ks = max(np.max(np.abs(now_right - base_right)), np.max(np.abs(now_left - base_left)))
    cut_idx = _psi_cut_indices(base_right)
    base_cum = np.concatenate([[0.0], base_right[cut_idx], [1.0]])
    now_cum = np.concatenate([[0.0], now_right[cut_idx], [1.0]])
    return float(ks), _psi(np.diff(base_cum), np.diff(now_cum))


def _psi_cut_indices(cdf: FloatArray) -> npt.NDArray[np.intp]:
    """Edges closing the training-quantile bins: first edge reaching each k / PSI_BINS."""
    levels = np.arange(1, PSI_BINS) / PSI_BINS
    idx = np.unique(np.searchsorted(cdf, levels - 1e-12, side="left"))
    return idx[(idx < cdf.size) & (cdf[np.minimum(idx, cdf.size - 1)] < 1.0)]


def _categorical_distances(baseline: FeatureBaseline, data: FloatArray) -> tuple[float, float]:
    cats, counts = np.unique(data[~np.isnan(data)], return_counts=True)
    base = dict(zip(baseline.categories, baseline.proportions, strict=True))
    now = dict(zip(cats.tolist(), (counts / data.size).tolist(), strict=True))
    keys = sorted(set(base) | set(now))
    p = [base.get(k, 0.0) for k in keys] + [baseline.missing]
    q = [now.get(k, 0.0) for k in keys] + [float(np.isnan(data).mean())]
    tvd = 0.5 * float(np.sum(np.abs(np.asarray(p) - np.asarray(q))))
    return min(tvd, 1.0), _psi(p, q)


def _psi(expected: Sequence[float] | FloatArray, actual: Sequence[float] | FloatArray) -> float:
    e = np.maximum(np.asarray(expected, dtype=np.float64), PSI_EPSILON)
    a = np.maximum(np.asarray(actual, dtype=np.float64), PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))
