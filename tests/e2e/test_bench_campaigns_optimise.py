"""The campaigns optimisation benchmark (forecast part) runs end to end in its quick form and
writes its figures: a rolling-origin backtest of the ensemble beside plain statsforecast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORECAST_KEYS = {
    "forecast_mase_vs_naive",
    "forecast_vs_statsforecast_best",
    "forecast_interval_coverage",
    "statsforecast_best",
    "statsforecast_peer_mae",
}


@pytest.fixture(scope="module")
def quick_run() -> tuple[str, dict[str, Any]]:
    """The script's stdout and the figures it wrote to ``campaigns_optimise.quick.json``."""
    script = ROOT / "benchmarks" / "campaigns_optimise.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    body = json.loads(
        (ROOT / "benchmarks" / "results" / "campaigns_optimise.quick.json").read_text()
    )
    assert body["benchmark"] == "campaigns_optimise"
    return done.stdout, body["figures"]


@pytest.mark.slow
def test_quick_run_scores_the_ensemble_against_the_peers(quick_run: tuple[str, dict]) -> None:
    stdout, figures = quick_run
    assert set(figures) >= FORECAST_KEYS
    assert figures["forecast_windows"] == 3 and len(figures["forecast_cutoffs"]) == 3
    peers = figures["statsforecast_peer_mae"]
    assert {"SeasonalNaive", "AutoETS", "MSTL"} <= set(peers)
    assert figures["forecast_seasonal_naive_mae"] == peers["SeasonalNaive"]
    # the ensemble beats the seasonal naive in the same windows, and its intervals are in the
    # right region (three windows are too few to hold them to the full run's 5 points)
    assert figures["forecast_mase_vs_naive"] < 1.0
    assert 0.6 <= figures["forecast_interval_coverage"] <= 0.95
    assert "forecast_mase_vs_naive" in stdout and "targets" in stdout
