"""The campaigns optimisation benchmark (forecast part) runs end to end in its quick form and
writes its figures: a rolling-origin backtest of the ensemble beside plain statsforecast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "campaigns_optimise.py"
RESULT = ROOT / "benchmarks" / "results" / "campaigns_optimise.quick.json"
KEYS = {
    "forecast_mase_vs_naive",
    "forecast_vs_statsforecast_best",
    "forecast_interval_coverage",
    "statsforecast_best",
    "statsforecast_peer_mae",
}


@pytest.mark.slow
def test_quick_campaigns_optimise_benchmark_writes_forecast_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    body = json.loads(RESULT.read_text())
    figures = body["figures"]
    assert body["benchmark"] == "campaigns_optimise"
    assert set(figures) >= KEYS
    assert figures["forecast_windows"] == 3 and len(figures["forecast_cutoffs"]) == 3
    peers = figures["statsforecast_peer_mae"]
    assert {"SeasonalNaive", "AutoETS", "MSTL"} <= set(peers)
    assert figures["forecast_seasonal_naive_mae"] == peers["SeasonalNaive"]
    # the ensemble beats the seasonal naive in the same windows, and its intervals are in the
    # right region (three windows are too few to hold them to the full run's 5 points)
    assert figures["forecast_mase_vs_naive"] < 1.0
    assert 0.6 <= figures["forecast_interval_coverage"] <= 0.95
    assert "forecast_mase_vs_naive" in done.stdout and "targets" in done.stdout
