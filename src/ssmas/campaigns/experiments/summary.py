"""Per-arm sufficient statistics and the effect (absolute or relative lift) between two arms.

Every test in the package works from these summaries (units, mean, variance) rather than raw
rows, so an experiment's results can be computed from counts kept in a database, and the
frequentist, sequential and Bayesian results all share one estimate of the effect and its
variance (the delta method for the relative lift, as GrowthBook's engine does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ssmas.campaigns.experiments.errors import ExperimentError

EffectKind = Literal["relative", "absolute"]


@dataclass(frozen=True)
class ArmSummary:
    """One arm's units, mean and per-unit variance (``p(1-p)`` for a conversion rate).

    ``unadjusted_mean`` is set by CUPED (:mod:`ssmas.campaigns.experiments.cuped`): ``mean``
    is then the covariate-adjusted mean and the relative lift divides by the unadjusted one.
    """

    n: int
    mean: float
    variance: float
    unadjusted_mean: float | None = None

    @property
    def raw_mean(self) -> float:
        """The mean before any adjustment (the relative lift's denominator)."""
        return self.mean if self.unadjusted_mean is None else self.unadjusted_mean

    @classmethod
    def proportion(cls, conversions: int, units: int) -> ArmSummary:
        """A conversion-rate arm: ``conversions`` of ``units`` converted."""
        if units <= 0:
            raise ExperimentError("an arm has no units: nothing to analyse yet")
        if not 0 <= conversions <= units:
            raise ExperimentError(
                f"conversions must be between 0 and the units ({units}), got {conversions}"
            )
        p = conversions / units
        return cls(n=int(units), mean=p, variance=p * (1.0 - p))

    @classmethod
    def from_sums(cls, n: int, total: float, total_squares: float) -> ArmSummary:
        """A mean metric from its count, sum and sum of squares (sample variance, ``n - 1``)."""
        if n < 2:
            raise ExperimentError(f"a mean metric needs at least 2 units per arm, got {n}")
        mean = total / n
        variance = max((total_squares - total * total / n) / (n - 1), 0.0)
        return cls(n=int(n), mean=mean, variance=variance)

    @classmethod
    def from_values(cls, values: ArrayLike) -> ArmSummary:
        """A mean metric from its raw per-unit values."""
        x = np.asarray(values, dtype=float).ravel()
        if not np.all(np.isfinite(x)):
            raise ExperimentError("metric values must be finite numbers")
        return cls.from_sums(x.size, float(x.sum()), float(np.dot(x, x)))


@dataclass(frozen=True)
class Effect:
    """Treatment against control: the estimate, its variance and standard error."""

    kind: EffectKind
    estimate: float
    variance: float

    @property
    def se(self) -> float:
        return math.sqrt(self.variance)


def lift_moments(
    control_mean: ArrayLike,
    control_var: ArrayLike,
    control_n: ArrayLike,
    treatment_mean: ArrayLike,
    treatment_var: ArrayLike,
    treatment_n: ArrayLike,
    kind: EffectKind = "relative",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The lift and its variance, vectorised over many comparisons (no input checks).

    Relative: ``(mean_t - mean_c) / mean_c`` with the delta-method variance
    ``var_t / (mean_c² n_t) + var_c mean_t² / (mean_c⁴ n_c)``; absolute: the difference of
    means with ``var_t / n_t + var_c / n_c``.
    """
    mc, vc, nc = (np.asarray(x, dtype=float) for x in (control_mean, control_var, control_n))
    mt, vt, nt = (np.asarray(x, dtype=float) for x in (treatment_mean, treatment_var, treatment_n))
    if kind == "relative":
        return (mt - mc) / mc, vt / (mc**2 * nt) + vc * mt**2 / (mc**4 * nc)
    return mt - mc, vt / nt + vc / nc


def effect(control: ArmSummary, treatment: ArmSummary, kind: EffectKind = "relative") -> Effect:
    """The lift of ``treatment`` over ``control`` with its variance (:func:`lift_moments`).

    After CUPED the relative lift's denominators are the unadjusted means, as GrowthBook's.
    """
    if control.n <= 0 or treatment.n <= 0:
        raise ExperimentError("an arm has no units: nothing to analyse yet")
    if kind not in ("relative", "absolute"):
        raise ExperimentError(f"effect kind must be 'relative' or 'absolute', got {kind!r}")
    if kind == "relative" and control.raw_mean == 0:
        raise ExperimentError("the control's mean is 0: a relative lift is undefined")
    _, variance = lift_moments(
        control.raw_mean,
        control.variance,
        control.n,
        treatment.raw_mean,
        treatment.variance,
        treatment.n,
        kind,
    )
    diff = treatment.mean - control.mean
    estimate = diff / control.raw_mean if kind == "relative" else diff
    if not float(variance) > 0:
        raise ExperimentError("both arms have zero variance: the effect's uncertainty is unknown")
    return Effect(kind=kind, estimate=float(estimate), variance=float(variance))
