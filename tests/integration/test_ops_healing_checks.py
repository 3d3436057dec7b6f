"""The supervisor's health checks on real processes that serve made-up metrics
(``tests/fakes/metrics_worker.py``): error rate, memory, a stale heartbeat, backlog (scale up,
shed load, scale down)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ssmas.core.api.shed import LoadShed
from ssmas.core.notify import Notification
from ssmas.core.worker import wait_until
from ssmas.ops.healing.journal import HealingAction, HealingJournal
from ssmas.ops.healing.supervisor import HealingPolicy, Supervisor, WorkerUnit

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "metrics_worker.py"
FAST = {"check_interval_s": 0.2, "start_grace_s": 0.0, "heartbeat_timeout_s": 5.0}


class Inbox:
    """A notifier that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


@contextmanager
def supervised(
    tmp_path: Path, spec: dict[str, Any], shed: LoadShed | None = None, **policy: Any
) -> Iterator[tuple[Supervisor, Path, Inbox]]:
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    unit = WorkerUnit(
        "p.w",
        "p",
        (sys.executable, str(FAKE), "{port}", str(spec_path)),
        groups=("g",),
        max_replicas=2,
    )
    inbox = Inbox()
    sup = Supervisor(
        [unit],
        HealingPolicy(**{**FAST, **policy}),
        env={},
        journal=HealingJournal(tmp_path / "healing.jsonl"),
        notifier=inbox,
        shed=shed,
    )
    stop = threading.Event()
    thread = sup.start(stop)
    try:
        yield sup, spec_path, inbox
    finally:
        stop.set()
        thread.join(30)
    assert all(r.proc is None or r.proc.poll() is not None for r in sup.replicas)


def actions(sup: Supervisor, name: str) -> list[HealingAction]:
    return [a for a in reversed(sup.journal.recent(1000)) if a.action == name]


def test_errors_after_a_restart_open_the_breaker_and_alert(tmp_path: Path) -> None:
    spec = {"acked": 10, "nacked": 40}
    with supervised(tmp_path, spec, backoff_s=0.05, breaker_s=600.0) as (sup, _, inbox):
        assert wait_until(lambda: actions(sup, "open_breaker"), 30, 0.05)
        restart = actions(sup, "restart")[0]
        assert restart.reason.startswith("error rate 80% of 50 deliveries > 50%")
        opened = actions(sup, "open_breaker")[0]
        assert "still after a restart" in opened.reason and opened.detail["pause_s"] == 600
        assert sup.status()[0]["state"] == "open" and sup.status()[0]["pid"] is None
        assert wait_until(lambda: len(inbox.sent) == 1, 10, 0.05)
    assert inbox.sent[0].severity == "critical" and "p.w" in inbox.sent[0].title
    assert len(actions(sup, "restart")) == 1  # restarted once, then paused


def test_a_worker_over_its_memory_bound_is_restarted(tmp_path: Path) -> None:
    with supervised(tmp_path, {"rss_mb": 500}, max_rss_mb=100.0, backoff_s=0.05) as (sup, _, _i):
        first = sup.status()[0]["pid"]
        assert wait_until(lambda: actions(sup, "restart"), 30, 0.05)
        assert actions(sup, "restart")[0].reason.startswith("memory: 500 MB > 100 MB")
        assert wait_until(lambda: sup.status()[0]["pid"] not in (None, first), 10, 0.05)


def test_a_stale_heartbeat_gets_the_worker_killed_and_restarted(tmp_path: Path) -> None:
    spec = {"heartbeat_age_s": 100}
    with supervised(tmp_path, spec, backoff_s=0.05) as (sup, spec_path, _):
        assert wait_until(lambda: actions(sup, "restart"), 30, 0.05)
        restart = actions(sup, "restart")[0]
        assert restart.reason.startswith("heartbeat 100 s old")
        assert "exited with code -9" in restart.reason  # SIGKILL: a stuck loop ignores TERM
        spec_path.write_text(json.dumps({}))  # fresh heartbeats from now on
        count = len(actions(sup, "restart"))
        assert wait_until(lambda: sup.status()[0]["rss_mb"] is not None, 10, 0.05)
    assert len(actions(sup, "restart")) in (count, count + 1)  # at most one in flight


def test_backlog_scales_up_sheds_at_full_scale_then_scales_down(tmp_path: Path) -> None:
    shed = LoadShed()
    spec = {"backlog": {"g": 6000}, "backlog_age_s": 40}
    policy = {"scale_depth": 1000, "shed_depth": 5000, "scale_cooldown_s": 0.0, "shed_s": 30.0}
    with supervised(tmp_path, spec, shed, **policy) as (sup, spec_path, inbox):
        assert wait_until(lambda: actions(sup, "shed_load"), 30, 0.05)
        up = actions(sup, "scale_up")
        assert len(up) == 1 and up[0].detail["replicas"] == 2  # at its max_replicas
        assert up[0].reason == "backlog 6000 messages, oldest 40 s"
        assert shed.retry_after("p") is not None
        assert wait_until(lambda: len(inbox.sent) == 1, 10, 0.05)
        assert inbox.sent[0].severity == "warning" and "p sheds load" in inbox.sent[0].title
        assert wait_until(lambda: sum(s["pid"] is not None for s in sup.status()) == 2, 10, 0.05)

        spec_path.write_text(json.dumps({"backlog": {"g": 10}}))
        assert wait_until(lambda: actions(sup, "scale_down"), 30, 0.05)
        assert wait_until(lambda: len(sup.status()) == 1, 10, 0.05)
    assert len(actions(sup, "shed_load")) == 1  # one episode, extended while it lasted
    assert actions(sup, "scale_down")[0].detail["replicas"] == 1
    assert actions(sup, "restart") == []  # removing a replica is not a crash
