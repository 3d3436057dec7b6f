"""The assistant benchmark runs end to end in its quick form: every accepted delivery is stored
once and answered once at the Graph API fake, and the result file holds the documented keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "assistant.py"
RESULT = ROOT / "benchmarks" / "results" / "assistant.quick.json"
KEYS = {
    "webhook_rate_per_s",
    "webhook_ack_p99_ms",
    "lost",
    "duplicated",
    "e2e_p99_ms",
    "context_p99_ms",
}


@pytest.mark.slow
def test_quick_assistant_benchmark_loses_and_duplicates_nothing() -> None:
    cmd = [sys.executable, str(SCRIPT), "--quick", "--duration", "2", "--e2e-duration", "1.5"]
    cmd += ["--context-reads", "2000"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=420, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    body = json.loads(RESULT.read_text())
    figures = body["figures"]
    assert body["benchmark"] == "assistant"
    assert set(figures) >= KEYS
    assert figures["webhook_sent"] == 200
    assert figures["webhook_rejected"] == 0
    assert figures["stored"] == figures["replied"] == 200
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["drain_complete"] is True
    assert figures["e2e_messages"] == 15
    assert figures["e2e_lost"] == 0 and figures["e2e_duplicated"] == 0
    assert 0 < figures["e2e_p50_ms"] <= figures["e2e_p99_ms"]
    assert 0 < figures["context_p50_ms"] <= figures["context_p99_ms"]
    assert "Embedded default" in body["notes"]
    assert "webhook_ack_p99_ms" in done.stdout
