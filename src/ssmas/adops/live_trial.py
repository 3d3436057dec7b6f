"""Faults on the simulated exchange, through the stream and the incident manager, scored.

The exchange runs in accelerated mode (no pacing: as fast as it simulates), its minutes go
through the :class:`~ssmas.adops.stream.StreamProcessor` in batches of ``batch_minutes`` and
the alerts into a real :class:`~ssmas.adops.incidents.IncidentService` on a database, exactly
as the stream worker would. Each fault is then matched with the incidents its affected entity
(or an entity downstream of it) opened between its start and its end plus a grace period:

* detected within two windows: the first matching incident opened at most two 5-minute
  sliding windows (10 minutes) after the fault started;
* incident per fault: matching incidents per fault (1.0: one fault, one incident);
* false incidents: incidents matching no fault, per simulated day of the measured span.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from ssmas.adops.incidents import IncidentService
from ssmas.adops.incidents.tables import IncidentRow
from ssmas.adops.stream import StreamProcessor
from ssmas.exchange.control_plane import MemoryControlPlane
from ssmas.exchange.faults import FAULT_KINDS, Fault, entities_of, make_fault
from ssmas.exchange.live import LiveExchange
from ssmas.exchange.world import World, build_world

WINDOW = timedelta(minutes=5)
GRACE = timedelta(minutes=15)


@dataclass
class FaultOutcome:
    fault: Fault
    incidents: list[str]
    delay_min: float | None


@dataclass
class TrialReport:
    faults: list[FaultOutcome]
    incidents: int
    false_incidents: int
    measured_days: float
    points: int
    minutes: int
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def detect_within_2_windows_pct(self) -> float:
        hits = [o for o in self.faults if o.delay_min is not None and o.delay_min <= 10.0]
        return 100.0 * len(hits) / max(1, len(self.faults))

    @property
    def incident_per_fault(self) -> float:
        return sum(len(o.incidents) for o in self.faults) / max(1, len(self.faults))

    def without(self, kind: str) -> tuple[float, float]:
        """``(detect_within_2_windows_pct, incident_per_fault)`` over the faults of every kind
        but ``kind`` (a kind reported apart, never dropped)."""
        kept = [o for o in self.faults if o.fault.kind != kind]
        hits = [o for o in kept if o.delay_min is not None and o.delay_min <= 10.0]
        return (
            100.0 * len(hits) / max(1, len(kept)),
            sum(len(o.incidents) for o in kept) / max(1, len(kept)),
        )

    @property
    def false_incidents_per_day(self) -> float:
        return self.false_incidents / max(self.measured_days, 1e-9)


def fault_plan(
    world: World, *, per_kind: int, start: datetime, spacing: timedelta, minutes: float, seed: int
) -> list[Fault]:
    """``per_kind`` faults of every kind, in a shuffled order, one every ``spacing``, each on a
    random entity the kind can hit (ad units among the bigger ones: a floor on a unit that
    sells a few impressions a minute is not visible in any metric)."""
    rng = np.random.default_rng(seed)
    kinds = [k for k in FAULT_KINDS for _ in range(per_kind)]
    rng.shuffle(kinds)
    faults = []
    for i, kind in enumerate(kinds):
        candidates = entities_of(world, FAULT_KINDS[kind].entity_type)
        if FAULT_KINDS[kind].entity_type == "ad_unit":
            candidates = candidates[:10]
        entity = candidates[int(rng.integers(len(candidates)))]
        faults.append(
            make_fault(world, kind, start=start + i * spacing, minutes=minutes, entity=entity)
        )
    return faults


def affected_entities(world: World, fault: Fault) -> set[str]:
    """The metric entities (``type/id``) a fault is expected to show on first."""
    if fault.entity_type == "ad_unit":
        unit = next(u for u in world.ad_units if u.ad_unit_id == fault.entity)
        return {
            f"ad_unit/{fault.entity}",
            f"publisher/{world.publishers[unit.publisher].publisher_id}",
        }
    if fault.entity_type == "publisher":  # and its ad units that have a row of their own
        units = {
            f"ad_unit/{u.ad_unit_id}"
            for u in world.ad_units
            if world.publishers[u.publisher].publisher_id == fault.entity
        }
        return {f"publisher/{fault.entity}", *units}
    return {f"{fault.entity_type}/{fault.entity}"}


def run_trial(
    engine: sa.Engine,
    *,
    seed: int,
    per_kind: int,
    warmup: timedelta = timedelta(days=1),
    spacing: timedelta = timedelta(hours=2),
    fault_minutes: float = 30.0,
    impressions_per_day: float = 10_000_000.0,
    batch_minutes: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> TrialReport:
    """Run the exchange with the plan's faults and score the incidents (tables must exist)."""
    world = build_world(seed)
    start = datetime(2024, 10, 21, tzinfo=UTC)
    first = start + warmup
    faults = fault_plan(
        world,
        per_kind=per_kind,
        start=first + spacing / 2,
        spacing=spacing,
        minutes=fault_minutes,
        seed=seed + 1,
    )
    end = first + spacing * (len(faults) + 0.5)
    plane = MemoryControlPlane(world)

    def active(at: datetime) -> list[Fault]:
        return [
            f for f in faults if f.start - timedelta(days=1) <= at < f.end + timedelta(minutes=1)
        ]

    live = LiveExchange(
        world, plane, start=start, impressions_per_day=impressions_per_day, faults=active
    )
    processor = StreamProcessor()
    service = IncidentService(engine, clock=lambda: live.minute)
    total = int((end - start).total_seconds() // 60)
    done = 0
    while live.minute < end:
        points: list[dict[str, Any]] = []
        for _ in range(batch_minutes):
            _, minute_points = live.step()
            points += minute_points
        alerts = processor.ingest_exchange(points)
        with service.session() as session:
            if live.minute > first:  # the warm-up day teaches the baselines only
                service.ingest(session, [a for a in alerts if a.ts >= first])
            service.tick(session, live.minute)
        done += batch_minutes
        if progress is not None:
            progress(done, total)
    return score_trial(engine, world, faults, first, end, processor.stats.points, total)


def score_trial(
    engine: sa.Engine,
    world: World,
    faults: Sequence[Fault],
    first: datetime,
    end: datetime,
    points: int,
    minutes: int,
) -> TrialReport:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(IncidentRow.incident_id, IncidentRow.correlation_key, IncidentRow.opened_at)
        ).all()
    incidents = [
        (r[0], r[1], r[2].replace(tzinfo=UTC) if r[2].tzinfo is None else r[2]) for r in rows
    ]
    claimed: set[str] = set()
    outcomes = []
    for fault in faults:
        keys = affected_entities(world, fault)
        mine = [
            (iid, opened)
            for iid, key, opened in incidents
            if fault.start <= opened < fault.end + GRACE and (key in keys or _related(key, fault))
        ]
        mine.sort(key=lambda x: x[1])
        claimed.update(iid for iid, _ in mine)
        delay = (mine[0][1] - fault.start).total_seconds() / 60.0 if mine else None
        outcomes.append(FaultOutcome(fault, [iid for iid, _ in mine], delay))
    report = TrialReport(
        faults=outcomes,
        incidents=len(incidents),
        false_incidents=sum(1 for iid, _, _ in incidents if iid not in claimed),
        measured_days=(end - first).total_seconds() / 86400.0,
        points=points,
        minutes=minutes,
    )
    for kind in FAULT_KINDS:
        of_kind = [o for o in outcomes if o.fault.kind == kind]
        if of_kind:
            report.by_kind[kind] = {
                "faults": len(of_kind),
                "detected_pct": 100.0
                * sum(o.delay_min is not None and o.delay_min <= 10 for o in of_kind)
                / len(of_kind),
                "incidents_per_fault": sum(len(o.incidents) for o in of_kind) / len(of_kind),
                "median_delay_min": float(
                    np.median([o.delay_min for o in of_kind if o.delay_min is not None])
                )
                if any(o.delay_min is not None for o in of_kind)
                else float("nan"),
            }
    return report


def _related(key: str, fault: Fault) -> bool:
    """A fault shows on the entities related to its own too: an exchange-wide fault on every
    partner and publisher, a partner's on the publishers it buys from and on the exchange's
    totals, a publisher's (or its ad unit's) on the exchange's. An incident there, during the
    fault, belongs to it; a second one is counted against ``incident_per_fault``."""
    entity_type = key.split("/", 1)[0]
    if fault.entity_type == "exchange":
        return entity_type in ("partner", "publisher", "ad_unit")
    if fault.entity_type == "partner":
        return entity_type in ("publisher", "ad_unit", "exchange")
    return entity_type == "exchange"
