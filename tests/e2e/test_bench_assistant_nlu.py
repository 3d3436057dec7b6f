"""The assistant NLU benchmark runs end to end in its quick form and writes its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "assistant_nlu.py"
RESULT = ROOT / "benchmarks" / "results" / "assistant_nlu.quick.json"
SHARED = ROOT.parent / "shared" / "data" / "intents"
KEYS = (
    "domain_intent_acc_es",
    "domain_intent_acc_en",
    "domain_oos_recall",
    "slot_f1",
    "intent_acc_en",
    "intent_acc_es",
    "oos_recall",
    "sentiment_binary_acc_es",
    "sentiment_3class_acc_es",
    "clinc_inscope_acc",
)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared NLU corpora not found at {SHARED}")
def test_quick_nlu_benchmark_writes_its_figures(tmp_path: Path) -> None:
    env = {**os.environ, "SSMAS_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,  # trains the product model (sentiment on every tweet) before the corpora
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(RESULT.read_text())
    assert body["benchmark"] == "assistant_nlu"
    for key in KEYS:
        assert 0.0 < body["figures"][key] <= 1.0, key
    assert body["figures"]["intent_acc_es"] > 0.9
    assert "QUICK" in body["notes"] and "intent_acc_en" in done.stdout
