"""Retraining runs in one process at a time across processes: two real processes run the pricing
worker's retraining loop on one database; only the lease holder runs passes, never two at once,
and when it is SIGKILLed the other takes over (and only after the kill)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssmas.core.worker import wait_until

ROOT = Path(__file__).resolve().parents[2]
PROCESS = Path(__file__).with_name("retrain_leader_process.py")


def passes(log: Path) -> list[tuple[int, float, float]]:
    if not log.exists():
        return []
    rows = [line.split() for line in log.read_text().splitlines() if line.strip()]
    return [(int(pid), float(start), float(end)) for pid, start, end in rows]


@pytest.mark.slow
def test_one_process_retrains_and_another_takes_over_when_it_dies(tmp_path: Path) -> None:
    log = tmp_path / "passes.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    env.update(
        SSMAS_PROFILE="test",
        SSMAS_DATA_DIR=str(tmp_path / "data"),  # one platform database for both
        SSMAS_PRICING_RETRAIN_INTERVAL_S="0.1",
        SSMAS_PRICING_PROMOTION_CHECK_INTERVAL_S="0",
        SSMAS_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT / "src"),
    )
    cmd = [sys.executable, str(PROCESS), str(log), "2.0"]
    procs = {}
    try:
        for _ in range(2):
            proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
            procs[proc.pid] = proc
        # generous: two interpreters importing the platform on a loaded machine
        assert wait_until(lambda: len(passes(log)) >= 4, timeout_s=240, poll_s=0.2)
        before = passes(log)
        [leader] = {pid for pid, _, _ in before}  # one process ran every pass
        spans = sorted((start, end) for _, start, end in before)
        assert all(nxt[0] >= prev[1] for prev, nxt in itertools.pairwise(spans))

        killed_at = time.time()
        procs[leader].send_signal(signal.SIGKILL)
        procs.pop(leader).wait(30)
        [other] = procs
        assert wait_until(
            lambda: any(pid == other for pid, _, _ in passes(log)), timeout_s=240, poll_s=0.2
        )
        after = passes(log)
        assert {pid for pid, _, _ in after} == {leader, other}
        assert all(start >= killed_at for pid, start, _ in after if pid == other)
        assert all(end <= killed_at for pid, _, end in after if pid == leader)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
