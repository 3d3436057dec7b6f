"""The bus benchmark runs end to end in its quick form and writes the figures it must."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bus.py"
RESULT = ROOT / "benchmarks" / "results" / "bus.quick.json"


@pytest.mark.redis
@pytest.mark.slow
def test_quick_bus_benchmark_writes_its_figures(redis_url: str, tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--quick", "--messages", "2000", "--visibility", "0.3"]
    cmd += ["--redis-url", redis_url, "--sqlite-dir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    body = json.loads(RESULT.read_text())
    figures = body["figures"]
    assert body["benchmark"] == "bus"
    assert figures["sqlite_msgs_per_s"] > 0 and figures["redis_msgs_per_s"] > 0
    assert figures["redelivery_s"] > 0 and figures["messages"] == 2000
    assert "sqlite" in done.stdout and "redis" in done.stdout
    assert list(tmp_path.iterdir()) == []
