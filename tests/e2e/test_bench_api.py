"""The API benchmark runs end to end in its quick form and writes the figures it must."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "api.py"
RESULT = ROOT / "benchmarks" / "results" / "api.quick.json"


@pytest.mark.slow
def test_quick_api_benchmark_writes_its_figures() -> None:
    cmd = [sys.executable, str(SCRIPT), "--quick", "--duration", "1.5", "--rate", "100"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    body = json.loads(RESULT.read_text())
    figures = body["figures"]
    assert body["benchmark"] == "api"
    assert {"rate_per_s", "p50_ms", "p99_ms", "errors"} <= set(figures)
    assert figures["requests"] == 150
    assert figures["errors"] == 0  # every request was an authenticated 200
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert figures["rate_per_s"] > 0
    assert "open loop" in body["notes"]
    assert "p99" in done.stdout
