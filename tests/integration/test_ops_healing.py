"""The worker supervisor on real processes: a SIGKILLed worker comes back and its backlog drains
with nothing lost; a crash-looping worker is backed off, its breaker opens and a webhook is
alerted once, then it heals and the alert resolves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ssmas.core.bus import open_bus
from ssmas.core.notify import notifier_from_url
from ssmas.core.worker import wait_until
from ssmas.ops.healing.journal import HealingJournal
from ssmas.ops.healing.supervisor import HealingPolicy, Supervisor, WorkerUnit
from tests.fakes.heal_product import GROUP, TOPIC, done_numbers
from tests.fakes.webhook_sink import HttpSink

pytestmark = pytest.mark.slow  # real worker processes, each importing the platform

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "tests" / "fakes" / "heal_product.py"
START_S = 90.0  # a worker process's start on a loaded machine (imports, migrations)


def unit(worker: str, groups: tuple[str, ...] = ()) -> WorkerUnit:
    argv = (sys.executable, str(MAIN), "worker", "healtest", "--only", worker)
    return WorkerUnit(f"healtest.{worker}", "healtest", (*argv, "--metrics-port", "{port}"), groups)


def child_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    env.update(
        {
            "SSMAS_PROFILE": "test",
            "SSMAS_DATA_DIR": str(data_dir),
            "SSMAS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        }
    )
    return env


@contextmanager
def supervising(sup: Supervisor) -> Iterator[Supervisor]:
    stop = threading.Event()
    thread = sup.start(stop)
    try:
        yield sup
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert all(r.proc is None or r.proc.poll() is not None for r in sup.replicas)


def state(sup: Supervisor) -> dict[str, object]:
    return sup.status()[0]


def test_a_sigkilled_worker_is_restarted_and_its_backlog_drains(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bus = open_bus(str(data / "bus.db"))
    policy = HealingPolicy(check_interval_s=0.5, start_grace_s=START_S, backoff_s=0.1)
    journal = HealingJournal(tmp_path / "healing.jsonl")
    sup = Supervisor(
        [unit("steady", (GROUP,))],
        policy,
        journal=journal,
        notifier=notifier_from_url("log://"),
        env=child_env(data),
    )
    try:
        with supervising(sup):
            for n in range(100):
                bus.publish(TOPIC, {"n": n})
            # up and serving its metrics (the supervisor has a sample of it)
            assert wait_until(lambda: state(sup)["rss_mb"] is not None, START_S, 0.1)
            assert wait_until(lambda: len(done_numbers(data)) == 100, START_S, 0.1)
            first = state(sup)["pid"]
            assert isinstance(first, int)

            for n in range(100, 300):  # backlog that the killed process leaves behind
                bus.publish(TOPIC, {"n": n})
            os.kill(first, signal.SIGKILL)

            def restarted() -> bool:
                now = state(sup)
                return now["pid"] not in (None, first) and now["state"] == "running"

            assert wait_until(restarted, START_S, 0.05)
            assert wait_until(lambda: done_numbers(data) == set(range(300)), START_S, 0.1)
            assert wait_until(lambda: state(sup)["rss_mb"] is not None, START_S, 0.1)

            def drained() -> bool:  # the last batch's ack follows its handling
                found = [b for b in bus.backlog() if b.group == GROUP]  # type: ignore[attr-defined]
                return found == [] or found[0].messages == 0

            assert wait_until(drained, 30, 0.05)
            assert bus.replay(f"{TOPIC}.dlq") == []
    finally:
        bus.close()
    restarts = [a for a in journal.recent() if a.action == "restart"]
    assert len(restarts) == 1
    assert restarts[0].outcome == "ok" and restarts[0].worker == "healtest.steady"
    assert "exited with code -9" in restarts[0].reason
    assert restarts[0].detail["pid"] != first


def test_a_crash_loop_is_backed_off_alerted_once_then_healed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "flaky_crashes").write_text("4")  # four crashing starts, then it runs
    policy = HealingPolicy(
        check_interval_s=0.5,
        start_grace_s=START_S,
        backoff_s=0.05,
        crash_loop_restarts=3,
        crash_loop_window_s=600.0,
        breaker_s=1.0,
    )
    journal = HealingJournal(tmp_path / "healing.jsonl")
    with HttpSink() as sink:
        sup = Supervisor(
            [unit("flaky")],
            policy,
            journal=journal,
            notifier=notifier_from_url(f"webhook+{sink.url}/hook"),
            env=child_env(data),
        )
        with supervising(sup):
            # the first start and three restarts crash; the fourth exit opens the breaker
            assert wait_until(lambda: len(sink.requests) >= 1, 4 * START_S, 0.1)
            alert = sink.requests[0].json()
            assert alert["severity"] == "critical" and not alert["resolved"]
            assert "healtest.flaky" in alert["title"] and "breaker open" in alert["title"]
            assert alert["dedup_key"] == "ssmas-heal-healtest.flaky"
            # the breaker half-opens after 1 s: the fifth start runs, and stays up
            assert wait_until(lambda: len(sink.requests) >= 2, 2 * START_S, 0.1)
            healed = sink.requests[1].json()
            assert healed["resolved"] and healed["dedup_key"] == alert["dedup_key"]
            assert state(sup)["state"] == "running" and state(sup)["restarts"] == 0
            spawns = sup.replicas[0].spawns
    assert spawns == 5  # never restarted while the breaker was open
    assert (data / "flaky_crashes").read_text() == "0"
    recorded = list(reversed(journal.recent()))
    healing = [(a.action, a.outcome) for a in recorded if a.action != "alert"]
    assert healing == [
        ("restart", "ok"),
        ("restart", "ok"),
        ("restart", "ok"),
        ("restart", "failed"),
        ("open_breaker", "ok"),
        ("restart", "ok"),
        ("close_breaker", "ok"),
    ]
    alerts = [a.detail["kind"] for a in recorded if a.action == "alert" and a.outcome == "ok"]
    assert alerts == ["critical", "resolved"]
    delays = [a.reason for a in reversed(journal.recent()) if a.action == "restart"][:3]
    assert all(d.startswith("exited with code 70;") for d in delays)  # ssmas worker: a loop died
    assert [d.rsplit("after ", 1)[1] for d in delays] == ["0.05 s", "0.1 s", "0.2 s"]
    assert len(sink.requests) == 2


PARENT = """
import os, subprocess, sys, time
os.environ["SSMAS_SUPERVISOR_PID"] = str(os.getpid())
child = subprocess.Popen(sys.argv[1:])
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_worker_whose_supervisor_died_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    argv = [sys.executable, str(MAIN), "worker", "healtest", "--only", "steady"]
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *argv, "--metrics-port", "0"],
        env=child_env(data),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert wait_until(lambda: (data / "heal_done.db").exists(), START_S, 0.1)  # running
        parent.kill()
        parent.wait()
        assert wait_until(lambda: not alive(child), 60, 0.1)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except FileNotFoundError:
        return False
