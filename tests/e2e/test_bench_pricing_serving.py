"""The pricing serving benchmark runs end to end in its quick form and writes its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "pricing_serving.py"
RESULT = ROOT / "benchmarks" / "results" / "pricing_serving.quick.json"
KEYS = {
    "predict_p99_ms",
    "predict_rate_per_s",
    "batch1000_p99_ms",
    "mlflow_serve_throughput_ratio",
    "fallback_p99_ms",
}


@pytest.mark.slow
def test_quick_pricing_serving_benchmark_writes_its_figures() -> None:
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
    assert body["benchmark"] == "pricing_serving"
    assert set(figures) >= KEYS
    assert figures["predict_requests"] == 2000  # 1000 req/s for 2 s, every one answered
    assert figures["predict_errors"] == figures["batch1000_errors"] == 0
    assert figures["fallback_errors"] == figures["mlflow_errors"] == 0
    assert figures["fallback_flagged"] is True  # the slow model's answers are the fallback
    assert figures["predict_p99_ms"] > 0 and figures["batch1000_p99_ms"] > 0
    assert figures["mlflow_serve_throughput_ratio"] > 0
    assert "mlflow models serve" in body["notes"]
    assert "throughput vs MLflow" in done.stdout
