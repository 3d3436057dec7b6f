"""Campaign ROI benchmark (issue 17, item 4): Monte Carlo ROI speed and portfolio optimisation
speed, with the figures merged into ``benchmarks/results/campaigns_optimise.json``.

Figures:
- ``roi_mc_10k_ms``: one ``simulate_roi`` of 10,000 iterations (four input draws, the ROI array,
  its mean, sd, seven percentiles and probability of loss), p50 over repeats (target ≤ 50 ms);
- ``portfolio_50_s``: ``optimise_portfolio`` over 50 campaigns (ROI mean and sd from their own
  Monte Carlo runs, a factor-model correlation, minimum spends on ten of them), p50 over repeats
  (target ≤ 1 s); ``portfolio_50_with_mc_s`` adds the 50 simulations;
- ``frontier_50_s``: the 17-point efficient frontier of the same portfolio;
- ``anomaly_p_at_k``: precision at k of the anomaly ensemble and of each member on synthetic
  campaign metrics (``ssmas.campaigns.anomaly.synthetic``, 2,000 rows, 40 injected, k = 40, three
  seeds averaged), and ``anomaly_fit_score_s``, fitting and scoring those rows once.

    .venv/bin/python benchmarks/campaigns_roi.py [--quick]

``--quick`` (a few seconds, for the test) repeats less and writes ``campaigns_roi.quick.json``
only; the full run writes ``campaigns_roi.json`` and merges ``roi_mc_10k_ms`` and
``portfolio_50_s`` into ``campaigns_optimise.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import merge_figures, write_result  # noqa: E402
from ssmas.campaigns.anomaly import AnomalyEnsemble  # noqa: E402
from ssmas.campaigns.anomaly.synthetic import injected_metrics, precision_at_k  # noqa: E402
from ssmas.campaigns.roi import (  # noqa: E402
    CampaignPlan,
    Dist,
    PortfolioCampaign,
    campaign_from_plan,
    efficient_frontier,
    optimise_portfolio,
    simulate_roi,
    tornado,
)

NAME = "campaigns_roi"
TARGET_MC_MS, TARGET_PORTFOLIO_S = 50.0, 1.0
N_CAMPAIGNS, BUDGET = 50, 1_000_000.0
console = Console(stderr=True)


def p50(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` in seconds over ``repeats`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def example_plan() -> CampaignPlan:
    return CampaignPlan(
        cost=Dist.triangular(8_000, 10_000, 14_000),
        reach=Dist.lognormal(50_000, 8_000),
        conversion_rate=Dist.beta(0.02, 0.006),
        value_per_conversion=Dist.lognormal(12.0, 3.0),
        name="example",
    )


def portfolio_plans(rng: np.random.Generator) -> list[CampaignPlan]:
    plans = []
    for i in range(N_CAMPAIGNS):
        cost = float(rng.uniform(5_000, 20_000))
        plans.append(
            CampaignPlan(
                cost=Dist.lognormal(cost, cost * rng.uniform(0.05, 0.2)),
                reach=Dist.lognormal(cost * rng.uniform(3, 6), cost * rng.uniform(0.5, 2)),
                conversion_rate=Dist.beta(rng.uniform(0.01, 0.05), rng.uniform(0.002, 0.008)),
                value_per_conversion=Dist.lognormal(rng.uniform(5, 15), rng.uniform(1, 5)),
                name=f"c{i:02d}",
            )
        )
    return plans


def factor_correlation(rng: np.random.Generator, n: int, k: int = 3) -> np.ndarray:
    """Campaigns sharing k market factors: ``B Bᵀ + D`` scaled to a correlation matrix."""
    loadings = rng.uniform(-0.3, 0.6, (n, k))
    cov = loadings @ loadings.T + np.diag(rng.uniform(0.3, 1.0, n))
    sd = np.sqrt(np.diag(cov))
    corr: np.ndarray = cov / np.outer(sd, sd)
    return corr


def anomaly_figures(seeds: int) -> tuple[dict[str, float], float]:
    """Mean precision at k over ``seeds`` datasets, per member and for the ensemble; the time of
    one fit + score."""
    found: dict[str, list[float]] = {}
    elapsed = 0.0
    for seed in range(seeds):
        frame, truth = injected_metrics(2_000, 40, seed)
        start = time.perf_counter()
        scores = AnomalyEnsemble(seed=seed).fit(frame).score(frame)
        elapsed = time.perf_counter() - start
        for name, member in {**scores.members, "ensemble": scores.ensemble}.items():
            found.setdefault(name, []).append(precision_at_k(member, truth, 40))
    return {name: round(float(np.mean(v)), 3) for name, v in found.items()}, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for the test")
    args = parser.parse_args()
    repeats = 5 if args.quick else 50
    rng = np.random.default_rng(17)
    load_before = os.getloadavg()[0]

    plan = example_plan()
    sim = simulate_roi(plan, iterations=10_000, seed=0)
    mc_ms = p50(lambda: simulate_roi(plan, iterations=10_000, seed=0), repeats) * 1000
    chart = tornado(plan)

    plans = portfolio_plans(rng)
    corr = factor_correlation(rng, N_CAMPAIGNS)

    def build() -> list[PortfolioCampaign]:
        out = []
        for i, p in enumerate(plans):
            low = 10_000.0 if i < 10 else 0.0
            out.append(campaign_from_plan(p, min_spend=low, max_spend=200_000.0, seed=i))
        return out

    entries = build()
    alloc = optimise_portfolio(entries, BUDGET, risk_aversion=2.0, correlation=corr)
    port_repeats = 3 if args.quick else 10
    port_s = p50(
        lambda: optimise_portfolio(entries, BUDGET, risk_aversion=2.0, correlation=corr),
        port_repeats,
    )
    full_s = p50(
        lambda: optimise_portfolio(build(), BUDGET, risk_aversion=2.0, correlation=corr),
        port_repeats,
    )
    start = time.perf_counter()
    frontier = efficient_frontier(entries, BUDGET, correlation=corr)
    frontier_s = time.perf_counter() - start

    p_at_k, anomaly_s = anomaly_figures(1 if args.quick else 3)

    figures: dict[str, Any] = {
        "roi_mc_10k_ms": round(mc_ms, 3),
        "roi_load_avg_before": round(load_before, 2),
        "roi_load_avg_after": round(os.getloadavg()[0], 2),
        "portfolio_50_s": round(port_s, 4),
        "portfolio_50_with_mc_s": round(full_s, 4),
        "frontier_50_s": round(frontier_s, 4),
        "roi_example": {k: round(v, 4) for k, v in sim.summary().items()},
        "roi_tornado": [[bar.input, round(bar.swing, 4)] for bar in chart.bars],
        "portfolio_50": {
            "expected_roi": round(alloc.expected_roi, 4),
            "risk": round(alloc.risk, 4),
            "diversification": round(alloc.diversification, 2),
            "converged": alloc.converged,
        },
        "anomaly_p_at_k": p_at_k,
        "anomaly_fit_score_s": round(anomaly_s, 3),
        "frontier_50": [
            [p.risk_aversion, round(p.risk, 4), round(p.expected_roi, 4)] for p in frontier
        ],
    }
    notes = (
        f"simulate_roi p50 over {repeats} repeats (10,000 iterations); optimise_portfolio "
        f"(SLSQP, exact gradients) on {N_CAMPAIGNS} campaigns with a 3-factor correlation and "
        f"minimum spends on 10, p50 over {port_repeats} repeats. 1-minute load average "
        f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores "
        "(a shared machine: read the times with it)."
    )
    path = write_result(NAME, figures, notes, quick=args.quick)
    console.print(f"wrote {path}", highlight=False)
    if not args.quick:
        # the two issue-17 figures (campaigns_optimise.py keeps them when it reruns)
        keys = ("roi_mc_10k_ms", "portfolio_50_s", "roi_load_avg_before", "roi_load_avg_after")
        merged = merge_figures("campaigns_optimise", {k: figures[k] for k in keys}, "campaigns_roi")
        console.print(f"merged into {merged}", highlight=False)

    table = Table(title="ROI of the example plan (10,000 iterations)")
    for column in ("mean", "sd", "p5", "p50", "p95", "P(loss)"):
        table.add_column(column, justify="right")
    s = sim.summary()
    table.add_row(*(f"{s[k]:.3f}" for k in ("mean", "std", "p5", "p50", "p95", "prob_loss")))
    Console().print(table)
    bars = Table(title=f"tornado (p10 / p90), base ROI {chart.base_roi:.3f}")
    for column in ("input", "ROI at low", "ROI at high", "swing"):
        bars.add_column(column)
    for bar in chart.bars:
        bars.add_row(
            bar.input, f"{bar.roi_at_low:.3f}", f"{bar.roi_at_high:.3f}", f"{bar.swing:.3f}"
        )
    Console().print(bars)
    anomalies = Table(title="anomaly detection: precision at k (k = injected), synthetic metrics")
    anomalies.add_column("detector")
    anomalies.add_column("precision at k", justify="right")
    for name, value in p_at_k.items():
        anomalies.add_row(name, f"{value:.3f}")
    Console().print(anomalies)
    targets = Table(title="targets")
    for column in ("figure", "value", "target", "met"):
        targets.add_column(column)
    for name, value, target in (
        ("roi_mc_10k_ms", mc_ms, TARGET_MC_MS),
        ("portfolio_50_s", port_s, TARGET_PORTFOLIO_S),
    ):
        targets.add_row(name, f"{value:.4g}", f"<= {target:g}", "yes" if value <= target else "NO")
    Console().print(targets)


if __name__ == "__main__":
    main()
