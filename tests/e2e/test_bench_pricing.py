"""The pricing benchmark runs end to end in a reduced quick form and writes its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "pricing.py"
RESULT = ROOT / "benchmarks" / "results" / "pricing.quick.json"
KEYS = {
    "rmse_ratio_vs_segment_baseline",
    "interval80_coverage",
    "ipinyou_rmse_ratio_vs_mean",
    "floor_uplift_pct",
    "floor_uplift_ci_low_pct",
    "replay_fill_rate_drop_pts",
    "inprocess_rows_per_s",
    "day_50m_pipeline_s",
    "day_50m_peak_rss_gb",
}


@pytest.mark.slow
def test_quick_pricing_benchmark_writes_its_figures(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--quick", "--history-volume", "20000"]
    cmd += ["--day-volume", "60k", "--cache", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    body = json.loads(RESULT.read_text())
    figures = body["figures"]
    assert body["benchmark"] == "pricing"
    assert set(figures) >= KEYS
    assert 0 < figures["rmse_ratio_vs_segment_baseline"] < 1.2
    assert 0.6 < figures["interval80_coverage"] < 0.95
    assert 0.5 < figures["ipinyou_rmse_ratio_vs_mean"] < 1.2
    assert figures["inprocess_rows_per_s"] > 0 and figures["day_50m_pipeline_s"] > 0
    assert figures["day_rows"] == "60k"
    assert "QUICK" in body["notes"]
    assert "rmse_ratio_vs_segment_baseline" in done.stdout
