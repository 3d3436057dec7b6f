"""Fixed-horizon frequentist results: two-proportion z, Welch t, one-way ANOVA and chi-square.

The seed analysed two variants with a t-test and more with ANOVA; these are those tests, plus
the conversion-rate test the campaigns mostly need. The lift is reported as GrowthBook reports
it: relative to the control, with a delta-method interval, and the p-value from the same
standard error (so 1500/15000 vs 1650/15000 gives p = 0.00708 and the 95% interval of the
relative lift [0.0272, 0.1728]). Use these at the planned sample size only; for daily looks use
:mod:`ssmas.campaigns.experiments.sequential`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ssmas.campaigns.experiments.errors import ExperimentError, check_alpha
from ssmas.campaigns.experiments.summary import ArmSummary, EffectKind, effect


@dataclass(frozen=True)
class LiftResult:
    """Treatment against control: lift, its confidence interval and the two-sided p-value."""

    kind: EffectKind
    lift: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def lift_test(
    control: ArmSummary,
    treatment: ArmSummary,
    *,
    alpha: float = 0.05,
    kind: EffectKind = "relative",
    dof: float | None = None,
) -> LiftResult:
    """The lift with a normal (``dof=None``) or Student-t interval and p-value."""
    alpha = check_alpha(alpha)
    eff = effect(control, treatment, kind)
    dist = stats.norm if dof is None else stats.t(dof)
    z = eff.estimate / eff.se
    width = float(dist.isf(alpha / 2)) * eff.se
    return LiftResult(
        kind=kind,
        lift=eff.estimate,
        se=eff.se,
        ci_low=eff.estimate - width,
        ci_high=eff.estimate + width,
        p_value=float(2 * dist.sf(abs(z))),
        alpha=alpha,
    )


def two_proportion_test(
    control_conversions: int,
    control_units: int,
    treatment_conversions: int,
    treatment_units: int,
    *,
    alpha: float = 0.05,
    kind: EffectKind = "relative",
) -> LiftResult:
    """Two-proportion z-test on conversion counts (unpooled variances, delta method)."""
    return lift_test(
        ArmSummary.proportion(control_conversions, control_units),
        ArmSummary.proportion(treatment_conversions, treatment_units),
        alpha=alpha,
        kind=kind,
    )


def welch_dof(control: ArmSummary, treatment: ArmSummary) -> float:
    """Welch-Satterthwaite degrees of freedom."""
    vc, vt = control.variance / control.n, treatment.variance / treatment.n
    den = vc**2 / (control.n - 1) + vt**2 / (treatment.n - 1)
    if den == 0:
        raise ExperimentError("both arms have zero variance: Welch's test is undefined")
    return float((vc + vt) ** 2 / den)


def welch_t_test(
    control: ArmSummary,
    treatment: ArmSummary,
    *,
    alpha: float = 0.05,
    kind: EffectKind = "absolute",
) -> LiftResult:
    """Welch's unequal-variance t-test on a mean metric (absolute difference by default)."""
    return lift_test(control, treatment, alpha=alpha, kind=kind, dof=welch_dof(control, treatment))


@dataclass(frozen=True)
class StatResult:
    """A statistic, its degrees of freedom and its p-value."""

    statistic: float
    dof: float
    p_value: float


def anova(groups: Sequence[ArmSummary]) -> StatResult:
    """One-way ANOVA F-test across arms (equal variances), from per-arm summaries."""
    if len(groups) < 2:
        raise ExperimentError(f"ANOVA needs at least 2 arms, got {len(groups)}")
    n = np.array([g.n for g in groups], dtype=float)
    if np.any(n < 2):
        raise ExperimentError("every arm needs at least 2 units for ANOVA")
    means = np.array([g.mean for g in groups])
    variances = np.array([g.variance for g in groups])
    grand = float(np.dot(n, means) / n.sum())
    between = float(np.dot(n, (means - grand) ** 2))
    within = float(np.dot(n - 1, variances))
    dfb, dfw = len(groups) - 1, float(n.sum()) - len(groups)
    if within == 0:
        raise ExperimentError("no variance within arms: the F statistic is undefined")
    f = (between / dfb) / (within / dfw)
    return StatResult(statistic=f, dof=float(dfb), p_value=float(stats.f.sf(f, dfb, dfw)))


def chi_square_test(table: ArrayLike) -> StatResult:
    """Pearson's chi-square test of independence on an arms x outcomes count table.

    No continuity correction (the 2x2 result equals the pooled two-proportion z-test's).
    """
    observed = np.asarray(table, dtype=float)
    if observed.ndim != 2 or min(observed.shape) < 2:
        raise ExperimentError("chi-square needs a table of at least 2 arms x 2 outcomes")
    if np.any(observed < 0) or not np.all(np.isfinite(observed)):
        raise ExperimentError("counts must be finite and non-negative")
    rows, cols = observed.sum(axis=1), observed.sum(axis=0)
    if np.any(rows == 0) or np.any(cols == 0):
        raise ExperimentError("an arm or an outcome has no counts: chi-square is undefined")
    expected = np.outer(rows, cols) / observed.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    dof = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    return StatResult(statistic=chi2, dof=float(dof), p_value=float(stats.chi2.sf(chi2, dof)))


def conversion_table(conversions: Sequence[int], units: Sequence[int]) -> np.ndarray:
    """The arms x (converted, not converted) table for :func:`chi_square_test`."""
    c, u = np.asarray(conversions, dtype=float), np.asarray(units, dtype=float)
    if c.shape != u.shape or np.any(c > u):
        raise ExperimentError("conversions and units must pair up, conversions ≤ units")
    return np.column_stack([c, u - c])
