"""The agents on the simulated exchange in one process: exchange, stream, incidents, agents.

``Episode`` steps the live exchange minute by minute, feeds its points to the stream processor
(in batches of five minutes, as the stream worker does) and to the agents, and lets a scripted
approver answer approval requests. Tests, the benchmark and the demo drive the agents with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ssmas.adops.agents.orchestrator import AgentRunner, Planner
from ssmas.adops.agents.tables import ApprovalRow
from ssmas.adops.incidents import IncidentService
from ssmas.adops.safety.executor import decide
from ssmas.adops.safety.policy import SafetyPolicy
from ssmas.adops.stream import StreamProcessor
from ssmas.adops.tools.base import MetricsView, ToolContext
from ssmas.exchange.control_plane import ControlPlane, MemoryControlPlane
from ssmas.exchange.faults import Fault
from ssmas.exchange.live import LiveExchange
from ssmas.exchange.world import World

# How a scripted approver answers: None leaves requests pending (they expire).
Approver = Callable[[dict[str, Any]], bool | None]


@dataclass
class Episode:
    world: World
    engine: sa.Engine
    policy: SafetyPolicy
    start: datetime
    faults: list[Fault] = field(default_factory=list)
    impressions_per_day: float = 10_000_000.0
    batch_minutes: int = 5
    approver: tuple[str, Approver] | None = None
    approve_after: timedelta = timedelta(minutes=2)
    planner: Planner | None = None
    plane: ControlPlane | None = None
    processor: StreamProcessor | None = None
    agents_from: datetime | None = None  # before this minute alerts only teach the stream

    def __post_init__(self) -> None:
        self.plane = self.plane or MemoryControlPlane(self.world)
        self.live = LiveExchange(
            self.world,
            self.plane,
            start=self.start,
            impressions_per_day=self.impressions_per_day,
            faults=self._active,
        )
        self.processor = self.processor or StreamProcessor()
        self.incidents = IncidentService(self.engine, clock=lambda: self.live.minute)
        self.ctx = ToolContext(
            self.world, self.plane, MetricsView(), clock=lambda: self.live.minute
        )
        self.runner = AgentRunner(self.incidents, self.ctx, self.policy, planner=self.planner)
        self.revenue = 0.0
        self._batch: list[dict[str, Any]] = []

    def _active(self, at: datetime) -> list[Fault]:
        return [
            f
            for f in self.faults
            if f.start - timedelta(days=1) <= at < f.end + timedelta(minutes=1)
        ]

    def run_until(self, end: datetime) -> None:
        while self.live.minute < end:
            self.minute()

    def minute(self) -> None:
        _, points = self.live.step()
        self.runner.observe(points)
        self.revenue += next(p["revenue_eur"] for p in points if p["entity_type"] == "exchange")
        self._batch += points
        if len(self._batch) >= self.batch_minutes * len(points):
            assert self.processor is not None
            alerts = self.processor.ingest_exchange(self._batch)
            self._batch = []
            live_from = self.agents_from or self.start
            with self.incidents.session() as session:
                if self.live.minute > live_from:
                    self.incidents.ingest(session, [a for a in alerts if a.ts >= live_from])
                self.incidents.tick(session, self.live.minute)
        if self.agents_from is None or self.live.minute > self.agents_from:
            self._answer_approvals()
            self.runner.step()

    def _answer_approvals(self) -> None:
        if self.approver is None:
            return
        name, answer = self.approver
        now = self.live.minute
        with self.incidents.session() as session:
            rows = session.scalars(
                sa.select(ApprovalRow).where(ApprovalRow.state == "pending")
            ).all()
            pending: list[dict[str, Any]] = [
                {
                    "approval_id": r.approval_id,
                    "tool": r.tool,
                    "args": r.args,
                    "requested_at": r.requested_at,
                }
                for r in rows
            ]
        for req in pending:
            if now - req["requested_at"] < self.approve_after:
                continue
            verdict = answer(req)
            if verdict is None:
                continue
            decide(
                self.engine,
                self.policy,
                req["approval_id"],
                name,
                approve=verdict,
                clock=lambda: now,
            )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
