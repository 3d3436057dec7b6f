"""Monte Carlo ROI against closed forms: with lognormal inputs log revenue is normal, so the
mean, the percentiles and the probability of loss are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ssmas.campaigns.roi import CampaignPlan, Dist, RoiInputError, simulate_roi


def lognormal_plan(cost: float = 10_000.0) -> CampaignPlan:
    return CampaignPlan(
        cost=Dist.fixed(cost),
        reach=Dist.lognormal(50_000, 10_000),
        conversion_rate=Dist.lognormal(0.02, 0.005),
        value_per_conversion=Dist.lognormal(12.0, 4.0),
        name="lognormal",
    )


def log_revenue_params(plan: CampaignPlan) -> tuple[float, float]:
    """Mean and sd of log revenue: sums of the lognormals' log parameters."""
    parts = [plan.reach, plan.conversion_rate, plan.value_per_conversion]
    return sum(d.a for d in parts), math.sqrt(sum(d.b**2 for d in parts))


def test_mean_matches_the_analytic_mean_within_its_standard_error() -> None:
    plan = lognormal_plan()
    sim = simulate_roi(plan, iterations=10_000, seed=1)
    analytic = 50_000 * 0.02 * 12.0 / 10_000 - 1  # E[R C V] / cost - 1 = 0.2
    assert sim.iterations == 10_000 and sim.samples.shape == (10_000,)
    assert abs(sim.mean - analytic) < 4 * sim.stderr
    assert sim.stderr == pytest.approx(sim.std / 100)


def test_probability_of_loss_and_percentiles_match_the_lognormal_closed_form() -> None:
    plan = lognormal_plan()
    m, s = log_revenue_params(plan)
    cost = 10_000.0
    sim = simulate_roi(plan, iterations=10_000, seed=2)
    p_loss = stats.norm.cdf((math.log(cost) - m) / s)
    assert abs(sim.prob_loss - p_loss) < 4 * math.sqrt(p_loss * (1 - p_loss) / 10_000)
    for q, value in sim.percentiles.items():
        # the exact quantile sits at share q of the draws, within the binomial standard error
        exact = math.exp(m + s * stats.norm.ppf(q / 100)) / cost - 1
        share, se = np.mean(sim.samples <= exact), math.sqrt(q / 100 * (1 - q / 100) / 10_000)
        assert abs(share - q / 100) < 4 * se, q
        assert value == pytest.approx(np.percentile(sim.samples, q))
    low, high = sim.interval(0.9)
    assert low == pytest.approx(sim.percentiles[5.0]) and high == pytest.approx(
        sim.percentiles[95.0]
    )


def test_uncertain_cost_uses_the_mean_of_its_reciprocal() -> None:
    # E[ROI] = E[R C V] E[1/cost] - 1, and for a lognormal cost E[1/cost] = exp(-mu + s^2/2)
    cost = Dist.lognormal(10_000, 3_000)
    plan = CampaignPlan(cost, Dist.fixed(40_000), Dist.beta(0.03, 0.01), Dist.uniform(5, 15))
    sim = simulate_roi(plan, seed=3)
    analytic = 40_000 * 0.03 * 10.0 * math.exp(-cost.a + cost.b**2 / 2) - 1
    assert abs(sim.mean - analytic) < 4 * sim.stderr
    # the naive E[revenue] / E[cost] - 1 is a different number, and the simulation is not it
    assert abs(sim.mean - (40_000 * 0.03 * 10.0 / 10_000 - 1)) > 4 * sim.stderr


def test_seeded_runs_repeat_and_different_seeds_differ() -> None:
    plan = lognormal_plan()
    a, b = simulate_roi(plan, seed=7), simulate_roi(plan, seed=7)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, simulate_roi(plan, seed=8).samples)


def test_a_certain_plan_has_no_spread() -> None:
    plan = CampaignPlan(Dist.fixed(100), Dist.fixed(1000), Dist.fixed(0.05), Dist.fixed(1.0))
    sim = simulate_roi(plan, iterations=100)
    assert sim.mean == pytest.approx(-0.5) and sim.std == 0 and sim.prob_loss == 1.0
    assert set(sim.summary()) >= {"mean", "std", "prob_loss", "p5", "p50", "p95"}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: CampaignPlan(Dist.fixed(0), Dist.fixed(1), Dist.fixed(0.1), Dist.fixed(1)),
            "cost must be positive",
        ),
        (
            lambda: CampaignPlan(
                Dist.normal(100, 80), Dist.fixed(1), Dist.fixed(0.1), Dist.fixed(1)
            ),
            "cost must be positive",
        ),
        (
            lambda: CampaignPlan(
                Dist.fixed(1), Dist.uniform(-5, 5), Dist.fixed(0.1), Dist.fixed(1)
            ),
            "reach cannot be negative",
        ),
        (
            lambda: CampaignPlan(
                Dist.fixed(1), Dist.fixed(1), Dist.uniform(0.5, 1.5), Dist.fixed(1)
            ),
            r"conversion_rate must lie in \[0, 1\]",
        ),
        (lambda: simulate_roi(lognormal_plan(), iterations=1), "iterations must be at least 2"),
        (lambda: simulate_roi(lognormal_plan(), iterations=10).interval(1.5), "interval level"),
    ],
)
def test_bad_input_gets_a_clear_error(build: object, message: str) -> None:
    with pytest.raises(RoiInputError, match=message):
        build()  # type: ignore[operator]
