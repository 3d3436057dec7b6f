"""The stream worker survives SIGKILL: nothing accepted is lost, nothing is alerted twice.

Real processes run the real stream job on a SQLite platform; one is killed by SIGKILL right
after reading a batch it has not checkpointed, another from outside at an arbitrary moment.
The alerts and incidents the restarted worker leaves must equal those of one uninterrupted
in-process run over the same messages.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from ssmas.adops.incidents.tables import AlertKeyRow, AlertRow, IncidentRow
from ssmas.adops.stream import StreamProcessor
from ssmas.adops.stream.job import METRICS_TOPIC
from ssmas.adops.stream.model import DetectorModel, fit_detector, history_from_messages
from ssmas.core.platform import build_platform
from ssmas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("adops_stream_worker.py")
T0 = datetime(2024, 10, 22, tzinfo=UTC)
MINUTES = 320


def messages() -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    out = []
    for minute in range(MINUTES):
        for p, publisher in enumerate(("pub-001", "pub-002", "pub-003")):
            rpm = 1.0 + 0.03 * rng.standard_normal()
            if 100 + 70 * p <= minute < 115 + 70 * p:
                rpm *= 0.3  # a fault on each publisher in turn
            out.append(
                {
                    "ts": (T0 + timedelta(minutes=minute)).isoformat(),
                    "entity_type": "publisher",
                    "entity_id": publisher,
                    "rpm": round(rpm, 6),
                    "fill_rate": round(0.6 + 0.01 * rng.standard_normal(), 6),
                }
            )
    return out


def history() -> list[dict[str, Any]]:
    """The day before: what a trained model learns the publishers' levels from."""
    rng = np.random.default_rng(6)
    return [
        {
            "ts": (T0 - timedelta(days=1) + timedelta(minutes=minute)).isoformat(),
            "entity_type": "publisher",
            "entity_id": publisher,
            "rpm": 1.0 + 0.03 * rng.standard_normal(),
            "fill_rate": 0.6 + 0.01 * rng.standard_normal(),
        }
        for minute in range(1440)
        for publisher in ("pub-001", "pub-002", "pub-003")
    ]


def expected_alert_keys(batch: list[dict[str, Any]], model: DetectorModel | None) -> set[str]:
    processor = StreamProcessor()
    if model is not None:
        processor.apply_model(model, "1")
    return {a.alert_key for a in processor.ingest_exchange(batch)}


def run_worker(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    """The worker script on ``data_dir`` (``args`` may name a model)."""
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), *args],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored(settings: Settings) -> tuple[set[str], int, int]:
    engine = sa.create_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        keys = set(conn.execute(sa.select(AlertKeyRow.alert_key)).scalars())
        occurrences = int(conn.execute(sa.select(sa.func.sum(AlertRow.occurrences))).scalar() or 0)
        incidents = int(
            conn.execute(sa.select(sa.func.count()).select_from(IncidentRow)).scalar() or 0
        )
    engine.dispose()
    return keys, occurrences, incidents


@pytest.mark.slow
@pytest.mark.parametrize("trained", [False, True], ids=["online", "trained-model"])
def test_sigkill_loses_nothing_and_alerts_nothing_twice(tmp_path: Path, trained: bool) -> None:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    settings.ensure_dirs()
    batch = messages()
    platform = build_platform(settings)
    platform.bus.publish_batch(METRICS_TOPIC, batch)
    platform.close()
    model = fit_detector(history_from_messages(history())) if trained else None
    extra: tuple[str, ...] = ()
    if model is not None:
        (tmp_path / "model.npz").write_bytes(model.to_bytes())
        extra = ("--model", str(tmp_path / "model.npz"))
    want = expected_alert_keys(batch, model)
    assert len(want) > 20  # three faults, each alerting for several minutes

    # killed by itself right after reading an unsaved batch, twice
    for checkpoints in (2, 5):
        died = run_worker(
            tmp_path / "data", "--expect", str(len(batch)), "--die-after", str(checkpoints), *extra
        )
        died.wait(timeout=120)
        assert died.returncode == -signal.SIGKILL, died.stderr.read() if died.stderr else ""
    # killed from outside while it works (slowed so the kill lands mid-stream)
    slow = run_worker(tmp_path / "data", "--expect", str(len(batch)), "--pause", "0.05", *extra)
    assert slow.stdout is not None
    seen = 0
    while seen < 3:  # three checkpoints in (the log notifier writes lines too)
        line = slow.stdout.readline()
        assert line, "the worker stopped before its third checkpoint"
        seen += line.startswith("CHECKPOINT")
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=30)
    # a last worker finishes the stream
    final = run_worker(tmp_path / "data", "--expect", str(len(batch)), *extra)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err[-2000:]
    start = next(line for line in out.splitlines() if line.startswith("START"))
    assert int(start.split()[1]) > 0  # it resumed from a checkpoint

    keys, occurrences, incidents = stored(settings)
    assert keys == want  # nothing lost
    assert occurrences == len(want)  # nothing alerted twice
    assert incidents == 3
