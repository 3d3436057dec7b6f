"""The exchange benchmark runs end to end in its quick form and writes the figures it must."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "exchange.py"
RESULT = ROOT / "benchmarks" / "results" / "exchange.quick.json"
KEYS = ("ks_vs_ipinyou", "day_50m_generate_s", "day_50m_peak_rss_gb", "hourly_agg_s")


@pytest.mark.slow
def test_quick_exchange_benchmark_writes_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(RESULT.read_text())
    assert body["benchmark"] == "exchange"
    figures = body["figures"]
    for key in KEYS:
        assert figures[key] > 0, key
    assert figures["ks_vs_ipinyou"] <= 0.10
    assert figures["rows"] > 400_000
    assert "ks_vs_ipinyou" in done.stdout
