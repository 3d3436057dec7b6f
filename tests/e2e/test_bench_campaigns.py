"""The campaigns benchmark runs end to end in its quick form and writes the figures it must."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "campaigns.py"
RESULT = ROOT / "benchmarks" / "results" / "campaigns.quick.json"
RATES = (
    "validations_per_min",
    "http_validations_per_min",
    "import_rows_per_min",
    "single_core_validations_per_min",
    "phonenumbers_only_per_min",
    "reference_path_per_min",
    "validations_per_cpu_min",
    "single_core_validations_per_cpu_min",
    "phonenumbers_only_per_cpu_min",
)


@pytest.mark.slow
def test_quick_campaigns_benchmark_writes_its_figures() -> None:
    # This checkout's package first, whichever one the venv was installed from.
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(RESULT.read_text())
    figures = body["figures"]
    assert body["benchmark"] == "campaigns"
    assert all(figures[key] > 0 for key in RATES)
    assert figures["fast_vs_reference_mismatches"] == 0
    assert 0.10 <= figures["invalid_share"] <= 0.20  # the mix the issue asks for
    assert figures["numbers"] == 30_000 and figures["workers"] >= 1
    assert "QUICK" in body["notes"] and "validations_per_min" in done.stdout
