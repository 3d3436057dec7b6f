"""The campaign ROI benchmark runs in its quick form and writes its figures: Monte Carlo and
portfolio timings, the example's ROI summary and tornado, and a frontier along which ROI rises
with risk."""

from __future__ import annotations

from tests.e2e.bench_support import run_quick


def test_quick_run_writes_roi_and_portfolio_figures() -> None:
    stdout, body = run_quick("campaigns_roi")
    figures = body["figures"]
    assert {"roi_mc_10k_ms", "portfolio_50_s", "portfolio_50_with_mc_s", "frontier_50_s"} <= set(
        figures
    )
    assert figures["roi_mc_10k_ms"] > 0 and figures["portfolio_50_s"] > 0
    example = figures["roi_example"]
    assert example["p5"] < example["p50"] < example["p95"] and 0 <= example["prob_loss"] <= 1
    swings = [swing for _, swing in figures["roi_tornado"]]
    assert swings == sorted(swings, reverse=True) and len(swings) == 4
    assert figures["portfolio_50"]["converged"] is True
    frontier = figures["frontier_50"]
    assert len(frontier) == 17
    rois = [roi for _, _, roi in frontier]
    assert rois == sorted(rois)
    p_at_k = figures["anomaly_p_at_k"]
    members = [v for k, v in p_at_k.items() if k != "ensemble"]
    assert len(members) == 4 and p_at_k["ensemble"] >= min(members)
    assert "roi_mc_10k_ms" in stdout and "targets" in stdout and "tornado" in stdout
