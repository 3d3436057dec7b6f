"""A SIGKILLed rules worker loses no accepted event and alerts nobody twice (real processes)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ssmas.adops.events import publish_event
from ssmas.adops.events.archive import EventArchive
from ssmas.core.bus import open_bus

WORKER = Path(__file__).with_name("adops_rules_kill_worker.py")
ROOT = Path(__file__).resolve().parents[2]
EVENTS = 23
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RULES = """
rules:
  - name: composite
    pattern: {source: [adops.analytics], detail: {metrics_affected: [{numeric: [">", 2]}]}}
    targets:
      - {id: incident, type: incident}
      - {id: out, type: topic, topic: adops.out, input_path: $.detail}
"""


def start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        str(WORKER),
        str(tmp_path / "data"),
        str(tmp_path / "rules.yaml"),
        str(tmp_path / "effects.db"),
        *extra,
    ]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": ""},
    )


def kill_when_stalled(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    while line and not line.startswith("STALL"):  # log lines come first
        line = proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert line.startswith("STALL"), proc.stderr.read() if proc.stderr else line


@pytest.mark.slow
@pytest.mark.parametrize("stall", ["after-batch:2", "at-call:7"])
def test_sigkilled_rules_worker_loses_nothing_and_alerts_once(tmp_path: Path, stall: str) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "data").mkdir()
    bus = open_bus(str(tmp_path / "data" / "bus.db"))
    ids = []
    for n in range(EVENTS):
        event = publish_event(
            bus,
            {
                "source": "adops.analytics",
                "detail-type": "Composite",
                "time": (T0 + timedelta(minutes=n)).isoformat(),
                "detail": {"metrics_affected": 3, "n": n},
            },
        )
        ids.append(event.id)
    bus.close()

    kill_when_stalled(start(tmp_path, "--stall", stall))
    second = start(tmp_path, "--expect", str(EVENTS))
    assert second.wait(timeout=60) == 0, second.stderr.read() if second.stderr else ""

    with sqlite3.connect(tmp_path / "effects.db") as conn:
        per_event = dict(conn.execute("SELECT event_id, COUNT(*) FROM calls GROUP BY 1"))
    assert per_event == {event_id: 1 for event_id in ids}  # every event, each alerted once
    bus = open_bus(str(tmp_path / "data" / "bus.db"))
    try:
        forwarded = sorted(m.payload["n"] for m in bus.replay("adops.out"))
        assert forwarded == list(range(EVENTS))
        assert bus.replay("adops.events.dlq") == []
    finally:
        bus.close()
    archive = EventArchive(tmp_path / "data" / "lake" / "events" / "adops")
    assert archive.count(T0, T0 + timedelta(days=1)) == EVENTS
