"""Budget allocation across a campaign portfolio (the seed's ``optimize_portfolio_roi``):
Markowitz mean-variance on the campaigns' ROI, with the budget and per-campaign minimum (and
maximum) spends as constraints, solved by SciPy's SLSQP with exact gradients.

Model: money put in campaign *i* returns ROI *r_i* per unit spent, with mean ``expected_roi``,
standard deviation ``roi_std`` and a correlation matrix between campaigns (identity unless
given); returns are taken as linear in spend (no saturation). In budget shares *w*
(``spend = w * budget``) the portfolio ROI is ``μᵀw`` with variance ``wᵀΣw``, and we maximise

    μᵀw - (λ/2) wᵀΣw   subject to   Σw = 1 (or ≤ 1 with ``allow_unspent``),  min_i ≤ w_i·B ≤ max_i

with λ the risk aversion. Sweeping λ gives the efficient frontier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from ssmas.campaigns.roi.dists import RoiInputError
from ssmas.campaigns.roi.montecarlo import DEFAULT_ITERATIONS, simulate_roi
from ssmas.campaigns.roi.plan import CampaignPlan

__all__ = [
    "Allocation",
    "PortfolioCampaign",
    "campaign_from_plan",
    "efficient_frontier",
    "optimise_portfolio",
]

FRONTIER_LAMBDAS = tuple(float(x) for x in np.logspace(-1, 3, 17))


@dataclass(frozen=True, slots=True)
class PortfolioCampaign:
    """One campaign of the portfolio: its ROI per unit spend (mean, sd) and spend limits."""

    name: str
    expected_roi: float
    roi_std: float
    min_spend: float = 0.0
    max_spend: float | None = None


@dataclass(frozen=True)
class Allocation:
    """An optimised split of the budget."""

    names: tuple[str, ...]
    spend: np.ndarray
    budget: float
    risk_aversion: float
    expected_roi: float
    risk: float
    converged: bool
    message: str

    @property
    def expected_profit(self) -> float:
        """Expected return on the budget, in money: ``expected_roi * budget``."""
        return self.expected_roi * self.budget

    @property
    def diversification(self) -> float:
        """Effective number of campaigns, ``1 / Σ share²`` of the spent money (1 = one campaign)."""
        spent = float(self.spend.sum())
        if spent <= 0:
            return 0.0
        shares = self.spend / spent
        return float(1.0 / np.sum(shares**2))

    def by_campaign(self) -> dict[str, float]:
        """Spend per campaign name."""
        return {name: float(x) for name, x in zip(self.names, self.spend, strict=True)}


def campaign_from_plan(
    plan: CampaignPlan,
    *,
    min_spend: float = 0.0,
    max_spend: float | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    seed: int | None = 0,
) -> PortfolioCampaign:
    """A portfolio entry whose ROI mean and sd come from ``plan``'s Monte Carlo simulation."""
    sim = simulate_roi(plan, iterations=iterations, seed=seed)
    return PortfolioCampaign(plan.name, sim.mean, sim.std, min_spend, max_spend)


@dataclass(frozen=True)
class _Problem:
    names: tuple[str, ...]
    mu: np.ndarray
    cov: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    budget: float
    allow_unspent: bool


def _problem(
    campaigns: Sequence[PortfolioCampaign],
    budget: float,
    correlation: np.ndarray | None,
    allow_unspent: bool,
) -> _Problem:
    if not campaigns:
        raise RoiInputError("the portfolio is empty: give at least one campaign")
    if not np.isfinite(budget) or budget <= 0:
        raise RoiInputError(f"budget must be a positive number, got {budget}")
    n = len(campaigns)
    names = tuple(c.name for c in campaigns)
    if len(set(names)) != n:
        raise RoiInputError("campaign names must be unique")
    mu = np.array([c.expected_roi for c in campaigns], dtype=float)
    sd = np.array([c.roi_std for c in campaigns], dtype=float)
    low = np.array([c.min_spend for c in campaigns], dtype=float)
    high = np.array([np.inf if c.max_spend is None else c.max_spend for c in campaigns])
    if not (np.isfinite(mu).all() and np.isfinite(sd).all()) or (sd < 0).any():
        raise RoiInputError("every campaign needs a finite expected_roi and a roi_std >= 0")
    if (low < 0).any() or not np.isfinite(low).all():
        bad = names[int(np.argmax(~np.isfinite(low) | (low < 0)))]
        raise RoiInputError(f"{bad}: min_spend must be a non-negative number")
    if (high < low).any():
        bad = names[int(np.argmax(high < low))]
        raise RoiInputError(f"{bad}: max_spend is below min_spend")
    if low.sum() > budget * (1 + 1e-12):
        raise RoiInputError(
            f"infeasible: the minimum spends add up to {low.sum():g}, over the budget {budget:g}"
        )
    if not allow_unspent and high.sum() < budget * (1 - 1e-12):
        raise RoiInputError(
            f"infeasible: the maximum spends add up to {high.sum():g}, under the budget "
            f"{budget:g} (pass allow_unspent=True to keep the rest)"
        )
    corr = np.eye(n) if correlation is None else np.asarray(correlation, dtype=float)
    if corr.shape != (n, n):
        raise RoiInputError(f"correlation must be {n}x{n}, got {corr.shape}")
    if not np.allclose(corr, corr.T) or not np.allclose(np.diag(corr), 1.0):
        raise RoiInputError("correlation must be symmetric with ones on the diagonal")
    if np.linalg.eigvalsh(corr).min() < -1e-9:
        raise RoiInputError("correlation is not positive semi-definite")
    cov = corr * np.outer(sd, sd)
    return _Problem(
        names, mu, cov, low / budget, np.minimum(high / budget, 1.0), budget, allow_unspent
    )


def _feasible_start(p: _Problem) -> np.ndarray:
    """Minimums, plus the rest of the budget spread in proportion to the room left."""
    room = p.upper - p.lower
    rest = 1.0 - p.lower.sum()
    if room.sum() <= 0:
        return p.lower.copy()
    start: np.ndarray = p.lower + room * min(1.0, rest / room.sum())
    return start


def _solve(p: _Problem, risk_aversion: float, start: np.ndarray) -> Allocation:
    if not np.isfinite(risk_aversion) or risk_aversion < 0:
        raise RoiInputError(f"risk_aversion must be >= 0, got {risk_aversion}")
    lam, mu, cov = risk_aversion, p.mu, p.cov

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        cw = cov @ w
        return float(-mu @ w + 0.5 * lam * (w @ cw)), -mu + lam * cw

    ones = np.ones_like(mu)
    constraint = {
        "type": "ineq" if p.allow_unspent else "eq",
        "fun": lambda w: 1.0 - w.sum(),
        "jac": lambda w: -ones,
    }
    result = minimize(
        objective,
        start,
        jac=True,
        method="SLSQP",
        bounds=list(zip(p.lower, p.upper, strict=True)),
        constraints=[constraint],
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    w = np.clip(result.x, p.lower, p.upper)
    return Allocation(
        names=p.names,
        spend=w * p.budget,
        budget=p.budget,
        risk_aversion=lam,
        expected_roi=float(mu @ w),
        risk=float(np.sqrt(max(w @ cov @ w, 0.0))),
        converged=bool(result.success),
        message=str(result.message),
    )


def optimise_portfolio(
    campaigns: Sequence[PortfolioCampaign],
    budget: float,
    *,
    risk_aversion: float = 1.0,
    correlation: np.ndarray | None = None,
    allow_unspent: bool = False,
) -> Allocation:
    """The mean-variance optimal split of ``budget`` over ``campaigns`` at ``risk_aversion``.

    ``expected_roi`` and ``risk`` of the result are on the whole budget (unspent money, with
    ``allow_unspent``, returns 0). Raises :class:`RoiInputError` on an empty portfolio, a
    non-positive budget, minimum spends over the budget, or a bad correlation matrix.
    """
    problem = _problem(campaigns, budget, correlation, allow_unspent)
    return _solve(problem, risk_aversion, _feasible_start(problem))


def efficient_frontier(
    campaigns: Sequence[PortfolioCampaign],
    budget: float,
    *,
    risk_aversions: Sequence[float] = FRONTIER_LAMBDAS,
    correlation: np.ndarray | None = None,
    allow_unspent: bool = False,
) -> list[Allocation]:
    """Optimal allocations over ``risk_aversions``, sorted by risk (each solve warm-starts
    from the previous one); expected ROI rises with risk along it."""
    if not risk_aversions:
        raise RoiInputError("give at least one risk aversion")
    problem = _problem(campaigns, budget, correlation, allow_unspent)
    start = _feasible_start(problem)
    points = []
    for lam in sorted(risk_aversions, reverse=True):
        point = _solve(problem, lam, start)
        start = point.spend / budget
        points.append(point)
    points.sort(key=lambda a: (a.risk, a.expected_roi))
    return points
