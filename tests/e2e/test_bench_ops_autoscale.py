"""The autoscaling backtest benchmark runs in its quick form and writes its figures."""

from __future__ import annotations

from tests.e2e.bench_support import run_quick


def test_quick_autoscale_benchmark_writes_cover_and_overprovision() -> None:
    stdout, body = run_quick("ops_autoscale")
    figures = body["figures"]
    assert figures["autoscale_service_hours"] == 3 * 7 * 24
    assert 95.0 <= figures["autoscale_cover_pct"] <= 100.0
    assert 0.0 < figures["autoscale_overprovision_pct"] <= 30.0
    assert figures["autoscale_mape_pct"] > 0
    assert set(figures["autoscale_by_service"]) == {
        "ssmas-api",
        "ssmas-worker-adops",
        "ssmas-worker-assistant",
    }
    assert "autoscale_cover_pct" in stdout
