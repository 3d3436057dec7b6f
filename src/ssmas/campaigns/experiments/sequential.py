"""Always-valid confidence sequences, so an experiment can be looked at every day.

A fixed-horizon interval checked daily and stopped at the first significant look is wrong far
more often than its alpha says (the A/A benchmark measures by how much). A confidence sequence
covers the true lift at every look at once with probability ``1 - alpha``: this is the
two-sided normal-mixture boundary of Howard et al. (2021), in the asymptotic form of
Waudby-Smith et al. (2023, eq. 9) that GrowthBook's sequential engine uses. The mixing
parameter is tuned for the total sample size (both arms) at which the sequence should be
tightest (``tuning``, by default 5,000 as GrowthBook's); the always-valid p-value is the inverse
of the mixture e-value. :class:`SequentialMonitor` keeps the running intersection of the
intervals and the running minimum of the p-values across looks, both still valid. The boundary
itself lives in :mod:`ssmas.core.stats` (pricing's model promotion uses it too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ssmas.campaigns.experiments.errors import ExperimentError, check_alpha
from ssmas.campaigns.experiments.summary import ArmSummary, EffectKind, effect
from ssmas.core.stats import sequential as _cs


def mixture_rho(alpha: float, tuning: float) -> float:
    """The mixing parameter that makes the sequence tightest near ``tuning`` total units."""
    _check(alpha, tuning)
    return _cs.mixture_rho(alpha, tuning)


def halfwidth(
    variance: ArrayLike, n_total: ArrayLike, *, alpha: float = 0.05, tuning: float = 5000.0
) -> NDArray[np.float64]:
    """The sequence's half-width (:func:`ssmas.core.stats.halfwidth`), bad parameters refused
    with :class:`ExperimentError`."""
    _check(alpha, tuning)
    return _cs.halfwidth(variance, n_total, alpha=alpha, tuning=tuning)


def always_valid_p(
    estimate: ArrayLike,
    variance: ArrayLike,
    n_total: ArrayLike,
    *,
    alpha: float = 0.05,
    tuning: float = 5000.0,
    null: float = 0.0,
) -> NDArray[np.float64]:
    """The always-valid p-value (:func:`ssmas.core.stats.always_valid_p`)."""
    _check(alpha, tuning)
    return _cs.always_valid_p(estimate, variance, n_total, alpha=alpha, tuning=tuning, null=null)


def _check(alpha: float, tuning: float) -> None:
    check_alpha(alpha)
    if not tuning > 0:
        raise ExperimentError(f"the tuning sample size must be positive, got {tuning!r}")


@dataclass(frozen=True)
class SequentialResult:
    """The lift with its always-valid interval and p-value at one look."""

    kind: EffectKind
    lift: float
    ci_low: float
    ci_high: float
    p_value: float
    n_total: int
    alpha: float

    @property
    def significant(self) -> bool:
        """The sequence excludes no effect: stopping now keeps the error rate at ``alpha``."""
        return self.ci_low > 0 or self.ci_high < 0


def sequential_test(
    control: ArmSummary,
    treatment: ArmSummary,
    *,
    alpha: float = 0.05,
    tuning: float = 5000.0,
    kind: EffectKind = "relative",
) -> SequentialResult:
    """The confidence sequence's value at this look (not intersected with earlier looks)."""
    eff = effect(control, treatment, kind)
    n = control.n + treatment.n
    width = float(halfwidth(eff.variance, n, alpha=alpha, tuning=tuning))
    p = float(always_valid_p(eff.estimate, eff.variance, n, alpha=alpha, tuning=tuning))
    return SequentialResult(
        kind=kind,
        lift=eff.estimate,
        ci_low=eff.estimate - width,
        ci_high=eff.estimate + width,
        p_value=p,
        n_total=n,
        alpha=alpha,
    )


@dataclass
class SequentialMonitor:
    """Looks at one comparison over time, keeping the running intersection and minimum p."""

    alpha: float = 0.05
    tuning: float = 5000.0
    kind: EffectKind = "relative"
    history: list[SequentialResult] = field(default_factory=list)

    def look(self, control: ArmSummary, treatment: ArmSummary) -> SequentialResult:
        """This look's result, its interval intersected with every earlier one."""
        now = sequential_test(
            control, treatment, alpha=self.alpha, tuning=self.tuning, kind=self.kind
        )
        if self.history:
            last = self.history[-1]
            low, high = max(now.ci_low, last.ci_low), min(now.ci_high, last.ci_high)
            if low > high:  # the sequence is empty: the model is wrong (e.g. drift); keep now's
                low, high = now.ci_low, now.ci_high
            now = SequentialResult(
                kind=now.kind,
                lift=now.lift,
                ci_low=low,
                ci_high=high,
                p_value=min(now.p_value, last.p_value),
                n_total=now.n_total,
                alpha=now.alpha,
            )
        self.history.append(now)
        return now
