"""Multiple-comparison corrections for an experiment with many metrics or many arms.

Holm's step-down method controls the family-wise error rate; Benjamini-Hochberg's step-up
method controls the false discovery rate. Both return adjusted p-values (as
``statsmodels.stats.multitest.multipletests`` does) and which hypotheses are rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ssmas.campaigns.experiments.errors import ExperimentError, check_alpha


@dataclass(frozen=True)
class Correction:
    """Adjusted p-values (in the input's order) and the rejections at ``alpha``."""

    method: str
    adjusted: tuple[float, ...]
    rejected: tuple[bool, ...]
    alpha: float


def _checked(p_values: Sequence[float]) -> np.ndarray:
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ExperimentError("corrections need a non-empty list of p-values")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ExperimentError("p-values must be between 0 and 1")
    return p


def _result(method: str, adjusted: np.ndarray, alpha: float) -> Correction:
    adjusted = np.minimum(adjusted, 1.0)
    return Correction(
        method=method,
        adjusted=tuple(float(x) for x in adjusted),
        rejected=tuple(bool(x) for x in adjusted <= alpha),
        alpha=alpha,
    )


def holm(p_values: Sequence[float], *, alpha: float = 0.05) -> Correction:
    """Holm-Bonferroni: the k-th smallest p times (m - k + 1), made non-decreasing."""
    alpha = check_alpha(alpha)
    p = _checked(p_values)
    m = p.size
    order = np.argsort(p, kind="mergesort")
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return _result("holm", adjusted, alpha)


def benjamini_hochberg(p_values: Sequence[float], *, alpha: float = 0.05) -> Correction:
    """Benjamini-Hochberg: the k-th smallest p times m / k, made non-increasing from the top."""
    alpha = check_alpha(alpha)
    p = _checked(p_values)
    m = p.size
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return _result("fdr_bh", adjusted, alpha)
