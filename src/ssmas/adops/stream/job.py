"""The stream worker: reads the bus by offset like a Flink source, checkpoints like Flink.

The job reads ``metrics.adops`` (the exchange's points) and ``adops.series`` (posted series)
from its last checkpointed offsets (``Bus.replay``, no consumer group), runs them through the
:class:`StreamProcessor`, and then, in **one database transaction**, writes the alerts to the
incident manager, resolves the incidents that went quiet, and stores the processor's state with
the next offsets. Killed at any moment, it restarts from the last checkpoint: the messages after
it are read again and give the same alerts, which were never written (nothing lost), and the
ones before it are never read again (nothing alerted twice).

The state is written at most every ``checkpoint_s`` seconds (alerts wait for it), so a fast
stream is not slowed by one write per message.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from ssmas.adops.incidents import IncidentService
from ssmas.adops.incidents.tables import StreamCheckpointRow
from ssmas.adops.stream.alerts import Alert
from ssmas.adops.stream.composite import CompositeRules
from ssmas.adops.stream.model import DetectorModel
from ssmas.adops.stream.processor import StreamProcessor
from ssmas.adops.stream.registry import is_detector_change
from ssmas.core.bus import Bus, Message
from ssmas.core.metrics import counter
from ssmas.core.registry.events import MODEL_EVENTS_TOPIC

log = structlog.get_logger("ssmas.adops.stream")

METRICS_TOPIC = "metrics.adops"
SERIES_TOPIC = "adops.series"
JOB_NAME = "stream"
ModelLoader = Callable[[], "tuple[str, DetectorModel] | None"]
POINTS = counter("adops", "stream_points", "Metric points read by the stream job", ["topic"])
CHECKPOINTS = counter("adops", "stream_checkpoints", "Checkpoints written by the stream job")


@dataclass
class JobStats:
    messages: int = 0
    alerts: int = 0
    checkpoints: int = 0


def load_checkpoint(
    engine: sa.Engine, name: str = JOB_NAME, rules: CompositeRules | None = None
) -> tuple[StreamProcessor, dict[str, int]]:
    """The job's last state and offsets (a fresh processor at offset 0 when none)."""
    with Session(engine) as session:
        row = session.get(StreamCheckpointRow, name)
        if row is None:
            return StreamProcessor(rules), {}
        state = StreamProcessor.from_bytes(zlib.decompress(row.state), rules)
        return state, {k: int(v) for k, v in row.offsets.items()}


class StreamJob:
    """One stream job over a bus and a database (one instance per job name at a time)."""

    def __init__(
        self,
        engine: sa.Engine,
        bus: Bus,
        incidents: IncidentService,
        *,
        rules: CompositeRules | None = None,
        name: str = JOB_NAME,
        topics: Sequence[str] = (METRICS_TOPIC, SERIES_TOPIC),
        batch: int = 2000,
        checkpoint_s: float = 2.0,
        models: ModelLoader | None = None,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.incidents = incidents
        self.name = name
        self.topics = tuple(topics)
        self.models = models
        if models is not None and MODEL_EVENTS_TOPIC not in self.topics:
            self.topics += (MODEL_EVENTS_TOPIC,)
        self.batch = batch
        self.checkpoint_s = checkpoint_s
        self.processor, self.offsets = load_checkpoint(engine, name, rules)
        self.pending: list[Alert] = []
        self.dirty = False
        self.last_checkpoint = time.monotonic()
        self.watermark: datetime | None = None
        self.stats = JobStats()
        if models is not None and self.processor.model is None:
            self.reload_model()

    def reload_model(self) -> bool:
        """Score with the registry's approved detector if it is not the one in use; a registry
        that cannot be read leaves the current one (logged, tried at the next event)."""
        if self.models is None:
            return False
        try:
            active = self.models()
        except Exception as exc:
            log.warning("adops_detector_not_loaded", error=f"{type(exc).__name__}: {exc}")
            return False
        version = None if active is None else active[0]
        if version == self.processor.model_version:
            return False
        covered = self.processor.apply_model(None if active is None else active[1], version)
        self.dirty = True
        log.info("adops_detector_applied", version=version, series=covered)
        return True

    def poll(self) -> int:
        """Read and process at most one batch per topic; returns the messages read."""
        read = 0
        for topic in self.topics:
            messages = self.bus.replay(
                topic, from_offset=self.offsets.get(topic, 0), limit=self.batch
            )
            if not messages:
                continue
            self._process(topic, messages)
            self.offsets[topic] = messages[-1].offset + 1
            read += len(messages)
            POINTS.labels(topic).inc(len(messages))
        if read:
            self.dirty = True
            self.stats.messages += read
        return read

    def _process(self, topic: str, messages: Sequence[Message]) -> None:
        if topic == MODEL_EVENTS_TOPIC:
            if any(is_detector_change(m.payload) for m in messages):
                self.reload_model()
            return
        if topic == SERIES_TOPIC:
            for message in messages:
                name = message.payload.get("series")
                points = message.payload.get("points")
                if isinstance(name, str) and isinstance(points, list):
                    pairs = [
                        tuple(p) for p in points if isinstance(p, list | tuple) and len(p) == 2
                    ]
                    self.pending += self.processor.ingest_points(name, pairs)
                if message.payload.get("flush"):
                    self.pending += self.processor.flush()
        else:
            payloads = [m.payload for m in messages]
            self.pending += self.processor.ingest_exchange(payloads)
            stamps = [str(p["ts"]) for p in payloads if isinstance(p.get("ts"), str)]
            latest = max(stamps, default=None)
            if latest is not None:
                try:
                    at = datetime.fromisoformat(latest)
                except ValueError:
                    at = None
                if at is not None:
                    at = (at if at.tzinfo else at.replace(tzinfo=UTC)) + timedelta(minutes=1)
                    self.watermark = max(self.watermark or at, at)

    def checkpoint(self, *, force: bool = False) -> bool:
        """Write alerts, quiet incidents and state in one transaction (when due or forced)."""
        if not self.dirty and not force:
            return False
        if not force and time.monotonic() - self.last_checkpoint < self.checkpoint_s:
            return False
        state = zlib.compress(self.processor.to_bytes(), 1)
        with self.incidents.session() as session:
            self.incidents.ingest(session, self.pending)
            if self.watermark is not None:
                self.incidents.tick(session, self.watermark)
            row = session.get(StreamCheckpointRow, self.name)
            now = datetime.now(UTC)
            if row is None:
                session.add(
                    StreamCheckpointRow(
                        name=self.name, state=state, offsets=dict(self.offsets), updated_at=now
                    )
                )
            else:
                row.state, row.offsets, row.updated_at = state, dict(self.offsets), now
        self.stats.alerts += len(self.pending)
        self.stats.checkpoints += 1
        CHECKPOINTS.inc()
        self.pending = []
        self.dirty = False
        self.last_checkpoint = time.monotonic()
        try:
            self.incidents.deliver()
        except Exception:  # a notifier's failure never stops the stream (retried next time)
            log.exception("incident_deliver_failed")
        return True

    def run(self, stop: threading.Event, *, idle_s: float = 0.25) -> JobStats:
        """Poll and checkpoint until ``stop``; a final checkpoint on the way out."""
        waiter: Any = getattr(self.bus, "wait_for_change", None)
        log.info("adops_stream_started", offsets=self.offsets)
        while not stop.is_set():
            read = self.poll()
            self.checkpoint()
            if read == 0:
                if self.dirty:
                    stop.wait(min(idle_s, self.checkpoint_s))
                elif waiter is not None:
                    waiter(idle_s)
                else:
                    stop.wait(idle_s)
        self.checkpoint(force=self.dirty)
        log.info("adops_stream_stopped", messages=self.stats.messages, alerts=self.stats.alerts)
        return self.stats
