"""Running a benchmark script's ``--quick`` form, as the e2e benchmark tests do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_quick(name: str, *args: str, timeout: float = 300) -> tuple[str, dict[str, Any]]:
    """Run ``benchmarks/<name>.py --quick``; its stdout and the ``<name>.quick.json`` it wrote."""
    script = ROOT / "benchmarks" / f"{name}.py"
    cmd = [sys.executable, str(script), "--quick", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    body = json.loads((ROOT / "benchmarks" / "results" / f"{name}.quick.json").read_text())
    assert body["benchmark"] == name
    return done.stdout, body
