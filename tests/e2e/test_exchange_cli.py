"""``ssmas exchange`` as a user runs it: real processes, real files, real database and bus.

The CLI processes are started together and awaited together: each one pays the platform's
import time, and running them side by side keeps the test short.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SSMAS = ROOT / ".venv" / "bin" / "ssmas"


def _start(args: list[str], data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "SSMAS_DATA_DIR": str(data_dir), "SSMAS_PROFILE": "test"}
    return subprocess.Popen(
        [str(SSMAS), "exchange", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=data_dir,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=240)
    return proc.returncode, out, err


@pytest.mark.slow
def test_simulate_live_inject_control_and_bad_input(tmp_path: Path) -> None:
    lake_dir, live_dir = tmp_path / "lake", tmp_path / "live"
    live_dir.mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    ok_simulate = [
        "simulate",
        "--start",
        "2024-10-22",
        "--impressions-per-day",
        "20k",
        "--out",
        str(lake_dir),
        "--scenario",
        "cache_collapse,at=10:00,minutes=30",
    ]
    bad = {
        "unknown scenario": ["inject", "meteor_strike"],
        "negative volume": [
            "simulate",
            "--start",
            "2024-10-22",
            "--impressions-per-day",
            "-5",
            "--out",
            str(tmp_path / "neg"),
        ],
        "unwritable path": ["simulate", "--start", "2024-10-22", "--out", str(blocker / "lake")],
        "bad date": ["simulate", "--start", "2024-13-40", "--out", str(tmp_path / "d")],
    }
    procs = {"simulate": _start(ok_simulate, tmp_path)}
    procs["run"] = _start(
        [
            "run",
            "--speed",
            "1000000",
            "--minutes",
            "2",
            "--start",
            "2024-10-22T10:00",
            "--impressions-per-day",
            "1M",
        ],
        live_dir,
    )
    procs.update({name: _start(args, tmp_path) for name, args in bad.items()})
    results = {name: _finish(proc) for name, proc in procs.items()}

    code, out, err = results["simulate"]
    assert code == 0, err
    assert "wrote" in out and "impressions" in out
    assert (lake_dir / "aggregated" / "hourly_stats" / "year=2024" / "month=10" / "day=22").exists()
    labels = json.loads((lake_dir / "labels" / "faults.json").read_text())
    assert [label["type"] for label in labels] == ["cache_collapse"]
    assert len(list((lake_dir / "raw" / "impressions").rglob("*.parquet"))) == 24

    code, out, err = results["run"]
    assert code == 0, err
    assert "simulated 2 minutes" in out

    for name in bad:
        code, out, err = results[name]
        assert code == 2, (name, out, err)
        assert "Traceback" not in err, name
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (name, err)

    # The live run's database now takes a fault and a remediation, each with its author.
    inject = _start(["inject", "partner_latency_spike", "--minutes", "15"], live_dir)
    code, out, err = _finish(inject)
    assert code == 0, err
    label = json.loads(out)
    assert label["type"] == "partner_latency_spike"
    assert label["start"].startswith("2024-10-22T10:02")  # the live simulator's next minute
    change = [
        "control",
        "--set",
        json.dumps({"partner_weights": {label["entity"]: 0.0}}),
        "--actor",
        "e2e",
        "--reason",
        "slow partner",
    ]
    code, out, err = _finish(_start(change, live_dir))
    assert code == 0, err
    assert out.startswith("version 1 by e2e")
    code, out, err = _finish(_start(["control"], live_dir))
    assert code == 0, err
    assert "v1" in out and "e2e: slow partner" in out
