"""The mean-variance budget allocation against known optima: the closed-form KKT solution when no
spend limit binds, SciPy's trust-constr on a case where minimum spends bind, and the frontier's
shape (ROI rises with risk; the minimum-variance end matches its closed form)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import LinearConstraint, minimize

from ssmas.campaigns.roi import (
    CampaignPlan,
    Dist,
    PortfolioCampaign,
    RoiInputError,
    campaign_from_plan,
    efficient_frontier,
    optimise_portfolio,
    simulate_roi,
)

MU = np.array([0.30, 0.20, 0.12, 0.05])
SD = np.array([0.40, 0.25, 0.15, 0.05])
CORR = np.array(
    [
        [1.0, 0.3, 0.1, 0.0],
        [0.3, 1.0, 0.2, 0.0],
        [0.1, 0.2, 1.0, 0.1],
        [0.0, 0.0, 0.1, 1.0],
    ]
)


def campaigns(mins: tuple[float, ...] = (0, 0, 0, 0)) -> list[PortfolioCampaign]:
    return [
        PortfolioCampaign(f"c{i}", float(m), float(s), min_spend=lo)
        for i, (m, s, lo) in enumerate(zip(MU, SD, mins, strict=True))
    ]


def closed_form(lam: float) -> np.ndarray:
    """argmax mu'w - lam/2 w'Sw s.t. sum w = 1 (no bounds): w = S^-1 (mu - nu 1) / lam."""
    cov = CORR * np.outer(SD, SD)
    inv = np.linalg.inv(cov)
    ones = np.ones(len(MU))
    nu = (ones @ inv @ MU - lam) / (ones @ inv @ ones)
    result: np.ndarray = inv @ (MU - nu * ones) / lam
    return result


def test_matches_the_closed_form_when_no_limit_binds() -> None:
    lam = 8.0
    expected = closed_form(lam)
    assert (expected > 0).all()  # so the non-negativity bounds do not bind
    alloc = optimise_portfolio(campaigns(), 100_000, risk_aversion=lam, correlation=CORR)
    assert alloc.converged
    np.testing.assert_allclose(alloc.spend, expected * 100_000, atol=1.0)
    assert alloc.expected_roi == pytest.approx(float(MU @ expected), abs=1e-6)
    assert alloc.spend.sum() == pytest.approx(100_000)
    assert alloc.by_campaign()["c0"] == pytest.approx(expected[0] * 100_000, abs=1.0)


def test_matches_scipy_trust_constr_when_minimum_spends_bind() -> None:
    budget, mins, lam = 50_000.0, (0.0, 0.0, 10_000.0, 15_000.0), 2.0
    alloc = optimise_portfolio(campaigns(mins), budget, risk_aversion=lam, correlation=CORR)
    cov = CORR * np.outer(SD, SD)
    ref = minimize(
        lambda w: -MU @ w + 0.5 * lam * w @ cov @ w,
        np.full(4, 0.25),
        jac=lambda w: -MU + lam * cov @ w,
        method="trust-constr",
        constraints=[LinearConstraint(np.ones((1, 4)), 1, 1)],
        bounds=[(lo / budget, 1) for lo in mins],
        options={"gtol": 1e-10, "xtol": 1e-12, "maxiter": 5000},
    )
    np.testing.assert_allclose(alloc.spend, ref.x * budget, atol=5.0)
    assert alloc.spend[2] == pytest.approx(10_000, abs=1e-6)  # the minimums bind
    assert alloc.spend[3] == pytest.approx(15_000, abs=1e-6)
    assert (alloc.spend >= np.array(mins) - 1e-6).all()


def test_risk_neutral_puts_everything_beyond_the_minimums_in_the_best_campaign() -> None:
    caps = [
        PortfolioCampaign("a", 0.1, 0.1, min_spend=100, max_spend=None),
        PortfolioCampaign("b", 0.5, 0.9, min_spend=0, max_spend=600),
        PortfolioCampaign("c", 0.3, 0.2, min_spend=0, max_spend=None),
    ]
    alloc = optimise_portfolio(caps, 1_000, risk_aversion=0.0)
    np.testing.assert_allclose(alloc.spend, [100, 600, 300], atol=1e-6)
    assert alloc.expected_roi == pytest.approx((10 + 300 + 90) / 1000)


def test_unspent_budget_is_kept_when_every_campaign_loses() -> None:
    losers = [PortfolioCampaign("x", -0.1, 0.2, min_spend=50), PortfolioCampaign("y", -0.3, 0.1)]
    alloc = optimise_portfolio(losers, 1_000, allow_unspent=True)
    np.testing.assert_allclose(alloc.spend, [50, 0], atol=1e-6)
    assert alloc.expected_roi == pytest.approx(-0.1 * 50 / 1000)
    forced = optimise_portfolio(losers, 1_000)
    assert forced.spend.sum() == pytest.approx(1_000)


def test_frontier_trades_risk_for_return_and_ends_at_minimum_variance() -> None:
    points = efficient_frontier(campaigns(), 10_000, correlation=CORR)
    risks = [p.risk for p in points]
    rois = [p.expected_roi for p in points]
    assert risks == sorted(risks)
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(rois))
    assert rois[-1] > rois[0] + 0.1
    # the most risk-averse point approaches the unconstrained minimum-variance portfolio
    cov = CORR * np.outer(SD, SD)
    gmv = np.linalg.solve(cov, np.ones(4))
    gmv /= gmv.sum()
    assert (gmv > 0).all()
    assert points[0].risk == pytest.approx(float(np.sqrt(gmv @ cov @ gmv)), rel=0.01)
    assert all(p.converged for p in points)
    assert points[-1].diversification < points[0].diversification


def test_campaigns_from_plans_carry_the_simulated_mean_and_sd() -> None:
    plan = CampaignPlan(
        Dist.fixed(1000), Dist.lognormal(5000, 800), Dist.beta(0.05, 0.01), Dist.fixed(5.0), "p"
    )
    entry = campaign_from_plan(plan, min_spend=10, seed=4)
    sim = simulate_roi(plan, seed=4)
    assert (entry.name, entry.expected_roi, entry.roi_std) == ("p", sim.mean, sim.std)
    assert entry.min_spend == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"campaigns": []}, "portfolio is empty"),
        ({"budget": -5.0}, "budget must be a positive number"),
        ({"budget": 0.0}, "budget must be a positive number"),
        ({"campaigns": campaigns((60_000, 50_000, 0, 0))}, "minimum spends add up to 110000"),
        ({"campaigns": [PortfolioCampaign("a", 0.1, 0.1, min_spend=-1)]}, "min_spend"),
        ({"campaigns": [PortfolioCampaign("a", 0.1, 0.1, 5, 2)]}, "max_spend is below"),
        ({"campaigns": [PortfolioCampaign("a", 0.1, 0.1, 0, 10)]}, "maximum spends add up"),
        ({"campaigns": [PortfolioCampaign("a", 0.1, -0.1)]}, "roi_std >= 0"),
        ({"campaigns": [*campaigns()[:2], campaigns()[0]]}, "names must be unique"),
        ({"correlation": np.eye(3)}, "correlation must be 4x4"),
        ({"correlation": CORR * 2}, "ones on the diagonal"),
        ({"correlation": np.full((4, 4), -0.9) + np.eye(4) * 1.9}, "positive semi-definite"),
        ({"risk_aversion": -1.0}, "risk_aversion must be >= 0"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"campaigns": campaigns(), "budget": 100_000.0, **kwargs}
    with pytest.raises(RoiInputError, match=message):
        optimise_portfolio(**args)  # type: ignore[arg-type]


def test_a_larger_portfolio_meets_the_kkt_conditions() -> None:
    # 30 campaigns, random correlation, minimum and maximum spends: at the optimum the marginal
    # utility mu - lam S w is one common value for campaigns strictly inside their limits, no
    # higher for those held at their minimum, and no lower for those at their maximum
    rng = np.random.default_rng(9)
    n, budget, lam = 30, 1_000.0, 3.0
    mu, sd = rng.uniform(-0.1, 0.5, n), rng.uniform(0.05, 0.6, n)
    loadings = rng.uniform(-0.5, 0.5, (n, 3))
    cov = loadings @ loadings.T + np.diag(rng.uniform(0.2, 1.0, n))
    corr = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
    lows = np.where(rng.random(n) < 0.3, 15.0, 0.0)
    highs = np.where(rng.random(n) < 0.3, 60.0, 1_000.0)
    entries = [PortfolioCampaign(f"c{i}", mu[i], sd[i], lows[i], highs[i]) for i in range(n)]
    alloc = optimise_portfolio(entries, budget, risk_aversion=lam, correlation=corr)
    assert alloc.converged and alloc.spend.sum() == pytest.approx(budget)
    assert (alloc.spend >= lows - 1e-6).all() and (alloc.spend <= highs + 1e-6).all()
    w = alloc.spend / budget
    grad = mu - lam * (corr * np.outer(sd, sd)) @ w
    at_low = alloc.spend <= lows + 1e-4
    at_high = alloc.spend >= highs - 1e-4
    free = ~at_low & ~at_high
    assert free.sum() >= 2
    nu = float(np.median(grad[free]))
    np.testing.assert_allclose(grad[free], nu, atol=1e-5)
    assert (grad[at_low] <= nu + 1e-5).all() and (grad[at_high] >= nu - 1e-5).all()
