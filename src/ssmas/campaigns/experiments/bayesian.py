"""Bayesian results: chance to win, expected loss and credible intervals.

Two models. :func:`gaussian_effect` puts a normal posterior on the lift (relative or absolute)
from the same delta-method estimate the frequentist test uses, with a flat or a proper normal
prior: this is GrowthBook's engine (gbstats' ``EffectBayesianABTest``), good for means and for
rates alike at campaign sample sizes. :func:`beta_binomial` is the conjugate model for
conversion rates (Beta prior, binomial likelihood), with the chance to win and both expected
losses in closed form (the Beta-difference sums of Evan Miller and Chris Stucchio), exact at any
sample size. Expected loss is what choosing an arm costs, in the lift's units, if it is the
worse one: the quantity to put a threshold on, not the chance to win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import betaln

from ssmas.campaigns.experiments.errors import ExperimentError, check_alpha
from ssmas.campaigns.experiments.summary import ArmSummary, EffectKind, effect


@dataclass(frozen=True)
class NormalPrior:
    """A normal prior on the lift, in the lift's own units (relative or absolute)."""

    mean: float = 0.0
    variance: float = 1.0

    def __post_init__(self) -> None:
        if not self.variance > 0:
            raise ExperimentError(f"the prior's variance must be positive, got {self.variance!r}")


@dataclass(frozen=True)
class BayesianResult:
    """The posterior of the lift: mean, sd, credible interval, chance to win, expected losses.

    ``loss_control``: expected lift forgone by keeping the control; ``loss_treatment``: expected
    lift lost by shipping the treatment (both ≥ 0, in the lift's units).
    """

    kind: EffectKind
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    chance_to_win: float
    loss_control: float
    loss_treatment: float


def normal_loss(mu: float, sigma: float) -> tuple[float, float]:
    """``E[max(X, 0)]`` and ``E[max(-X, 0)]`` for ``X ~ N(mu, sigma²)``."""
    z = mu / sigma
    pdf = float(stats.norm.pdf(z))
    return mu * float(stats.norm.cdf(z)) + sigma * pdf, sigma * pdf - mu * float(stats.norm.cdf(-z))


def gaussian_effect(
    control: ArmSummary,
    treatment: ArmSummary,
    *,
    kind: EffectKind = "relative",
    prior: NormalPrior | None = None,
    alpha: float = 0.05,
    inverse: bool = False,
) -> BayesianResult:
    """Normal posterior of the lift; a flat prior when ``prior`` is None.

    ``inverse``: lower is better (a cost, an unsubscribe rate): the chance to win and the losses
    are taken for a decrease.
    """
    alpha = check_alpha(alpha)
    eff = effect(control, treatment, kind)
    if prior is None:
        mean, variance = eff.estimate, eff.variance
    else:
        precision = 1 / eff.variance + 1 / prior.variance
        mean = (eff.estimate / eff.variance + prior.mean / prior.variance) / precision
        variance = 1 / precision
    sd = math.sqrt(variance)
    gain, loss = normal_loss(mean, sd)
    win = float(stats.norm.sf(0.0, mean, sd))
    if inverse:
        win, gain, loss = 1.0 - win, loss, gain
    low, high = stats.norm.ppf([alpha / 2, 1 - alpha / 2], mean, sd)
    return BayesianResult(
        kind=kind,
        mean=mean,
        sd=sd,
        ci_low=float(low),
        ci_high=float(high),
        chance_to_win=win,
        loss_control=gain,
        loss_treatment=loss,
    )


@dataclass(frozen=True)
class BetaBinomialResult:
    """Conversion rates' Beta posteriors: chance the treatment's rate is higher, the expected
    loss (in rate points) of keeping the control or shipping the treatment, and each arm's
    equal-tailed credible interval."""

    chance_to_win: float
    loss_control: float
    loss_treatment: float
    control_ci: tuple[float, float]
    treatment_ci: tuple[float, float]
    control_posterior: tuple[float, float]
    treatment_posterior: tuple[float, float]


def prob_b_beats_a(a_a: float, b_a: float, a_b: int, b_b: float) -> float:
    """``P(p_B > p_A)`` for ``p_A ~ Beta(a_a, b_a)``, ``p_B ~ Beta(a_b, b_b)``; ``a_b`` integer."""
    i = np.arange(int(a_b), dtype=float)
    terms = betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)
    return float(min(1.0, max(0.0, np.exp(terms).sum())))


def beta_binomial(
    control_conversions: int,
    control_units: int,
    treatment_conversions: int,
    treatment_units: int,
    *,
    prior: tuple[int, int] = (1, 1),
    alpha: float = 0.05,
) -> BetaBinomialResult:
    """Conjugate Beta posteriors of two conversion rates, compared in closed form.

    ``prior`` is ``Beta(a, b)`` with whole-number parameters (the closed form sums over them).
    """
    alpha = check_alpha(alpha)
    a0, b0 = prior
    if int(a0) != a0 or int(b0) != b0 or a0 < 1 or b0 < 1:
        raise ExperimentError(f"the Beta prior needs whole numbers ≥ 1, got {prior!r}")
    for conv, units in (
        (control_conversions, control_units),
        (treatment_conversions, treatment_units),
    ):
        if units <= 0:
            raise ExperimentError("an arm has no units: nothing to analyse yet")
        if not 0 <= conv <= units:
            raise ExperimentError(f"conversions must be between 0 and the units ({units})")
    ac, bc = a0 + control_conversions, b0 + control_units - control_conversions
    at, bt = a0 + treatment_conversions, b0 + treatment_units - treatment_conversions
    win = prob_b_beats_a(ac, bc, at, bt)
    mean_c, mean_t = ac / (ac + bc), at / (at + bt)
    # E[max(pc - pt, 0)] = E[pc] P(pc' > pt) - E[pt] P(pc > pt'), primes size-biased (+1 success)
    loss_t = mean_c * (1 - prob_b_beats_a(ac + 1, bc, at, bt)) - mean_t * (
        1 - prob_b_beats_a(ac, bc, at + 1, bt)
    )
    loss_c = loss_t + mean_t - mean_c  # E[max(x, 0)] - E[max(-x, 0)] = E[x]
    q = [alpha / 2, 1 - alpha / 2]
    ci_c, ci_t = stats.beta.ppf(q, ac, bc), stats.beta.ppf(q, at, bt)
    return BetaBinomialResult(
        chance_to_win=win,
        loss_control=max(loss_c, 0.0),
        loss_treatment=max(loss_t, 0.0),
        control_ci=(float(ci_c[0]), float(ci_c[1])),
        treatment_ci=(float(ci_t[0]), float(ci_t[1])),
        control_posterior=(float(ac), float(bc)),
        treatment_posterior=(float(at), float(bt)),
    )
