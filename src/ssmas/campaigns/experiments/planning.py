"""How many units an experiment needs and how many days that takes, before it starts.

The seed's ``ABTestManager`` sized every test for a fixed 5% improvement; here the planner
takes the baseline and the rate worth detecting, and solves the same two-sided power equation
statsmodels' ``NormalIndPower`` solves (Cohen's effect size ``h`` on arcsine-transformed rates,
both rejection tails counted), so 10% → 11% at alpha 0.05 and power 0.8 needs 14,745 per arm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq
from scipy.stats import norm

from ssmas.campaigns.experiments.errors import ExperimentError, check_alpha


def cohens_h(baseline: float, expected: float) -> float:
    """Cohen's effect size for two proportions: ``2 asin(√p₁) - 2 asin(√p₀)``."""
    for name, p in (("baseline", baseline), ("expected", expected)):
        if not 0.0 < p < 1.0:
            raise ExperimentError(f"{name} rate must be strictly between 0 and 1, got {p!r}")
    return 2.0 * math.asin(math.sqrt(expected)) - 2.0 * math.asin(math.sqrt(baseline))


def power_two_proportions(
    h: float, n_control: float, *, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """Power of the two-sided test at effect size ``h`` with ``n_control`` and ``ratio`` times as
    many treatment units (both tails of the rejection region)."""
    crit = norm.isf(alpha / 2.0)
    shift = abs(h) * math.sqrt(n_control / (1.0 + 1.0 / ratio))
    return float(norm.sf(crit - shift) + norm.cdf(-crit - shift))


def sample_size_per_arm(
    baseline: float,
    expected: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> int:
    """Control units needed (treatment gets ``ratio`` times as many), rounded up."""
    alpha = check_alpha(alpha)
    power = check_alpha(power, "power")
    if ratio <= 0:
        raise ExperimentError(f"ratio must be positive, got {ratio!r}")
    h = cohens_h(baseline, expected)
    if h == 0:
        raise ExperimentError("baseline and expected rates are equal: no effect to detect")
    if power <= alpha:
        raise ExperimentError("power must exceed alpha")
    # The one-tail closed form brackets the exact root from above.
    upper = ((norm.isf(alpha / 2) + norm.ppf(power)) / abs(h)) ** 2 * (1 + 1 / ratio) * 2
    n: float = brentq(
        lambda m: power_two_proportions(h, m, alpha=alpha, ratio=ratio) - power,
        1e-9,
        upper,
        xtol=1e-10,
    )
    return math.ceil(n)


@dataclass(frozen=True)
class Plan:
    """A planned experiment: units per arm, total units and calendar days to reach them."""

    per_arm: int
    arms: int
    total_units: int
    days: int


def plan_experiment(
    baseline: float,
    expected: float,
    *,
    daily_units: float,
    arms: int = 2,
    traffic_fraction: float = 1.0,
    alpha: float = 0.05,
    power: float = 0.8,
) -> Plan:
    """Sample size per arm (equal split) and the run length in whole days.

    ``daily_units`` is the eligible traffic a day, ``traffic_fraction`` the share of it put
    into the experiment. With more than two arms each comparison gets the planned power; a
    Bonferroni-split alpha is the caller's choice (pass ``alpha / (arms - 1)``).
    """
    if arms < 2:
        raise ExperimentError(f"an experiment needs at least 2 arms, got {arms}")
    if daily_units <= 0:
        raise ExperimentError(f"daily units must be positive, got {daily_units!r}")
    if not 0.0 < traffic_fraction <= 1.0:
        raise ExperimentError(f"traffic fraction must be in (0, 1], got {traffic_fraction!r}")
    per_arm = sample_size_per_arm(baseline, expected, alpha=alpha, power=power)
    total = per_arm * arms
    days = math.ceil(total / (daily_units * traffic_fraction))
    return Plan(per_arm=per_arm, arms=arms, total_units=total, days=days)
