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
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from ssmas.adops.incidents import IncidentService
from ssmas.adops.incidents.tables import IncidentRow
from ssmas.adops.stream import StreamDetectorConfig, StreamProcessor
from ssmas.adops.stream.model import DetectorModelError, fit_detector, history_from_messages
from ssmas.adops.stream.processor import METRIC_FLOORS
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
    seed: int = 0  # the world (and segment) the fault ran in


@dataclass
class TrialReport:
    faults: list[FaultOutcome]
    incidents: int
    false_incidents: int
    measured_days: float
    points: int
    minutes: int
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    false_keys: list[str] = field(default_factory=list)  # where the false incidents opened

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
    world: World,
    *,
    per_kind: int,
    start: datetime,
    spacing: timedelta,
    minutes: float,
    seed: int,
    kinds: Sequence[str] | None = None,
) -> list[Fault]:
    """``per_kind`` faults of every kind, in a shuffled order (or ``kinds`` in their order),
    one every ``spacing``, each on a random entity the kind can hit (ad units among the bigger
    ones: a floor on a unit that sells a few impressions a minute is not visible in any
    metric)."""
    rng = np.random.default_rng(seed)
    if kinds is None:
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
    kinds: Sequence[str] | None = None,
    processor: StreamProcessor | None = None,
    train: bool = True,
    config: StreamDetectorConfig | None = None,
) -> TrialReport:
    """Run the exchange with the plan's faults and score the incidents (tables must exist).

    ``kinds`` fixes the fault kinds in order (default: ``per_kind`` of each, shuffled);
    ``processor`` is the stream processor to use (default: a fresh one, default detector).
    With ``train`` the warm-up's metrics (all but its last two hours) train a
    :class:`DetectorModel` (as ``ssmas adops train-detector`` does from the bus) that the
    processor uses from then on."""
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
        kinds=kinds,
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
    processor = processor or StreamProcessor(config=config)
    service = IncidentService(engine, clock=lambda: live.minute)
    total = int((end - start).total_seconds() // 60)
    done = 0
    seen: list[dict[str, Any]] = []
    while live.minute < end:
        points: list[dict[str, Any]] = []
        for _ in range(batch_minutes):
            _, minute_points = live.step()
            points += minute_points
        if train and processor.model is None:
            # trained on the warm-up's first 22 hours and applied two hours before the
            # measured span, so the switch itself is not scored
            if live.minute <= first - timedelta(hours=2):
                seen += points
            else:
                try:
                    model = fit_detector(
                        history_from_messages(seen), config=config, floors=METRIC_FLOORS
                    )
                    processor.apply_model(model, "trial")
                except DetectorModelError:  # a warm-up too short to train on: online only
                    train = False
                seen = []
        alerts = processor.ingest_exchange(points)
        with service.session() as session:
            if live.minute > first:  # the warm-up day teaches the baselines only
                service.ingest(session, [a for a in alerts if a.ts >= first])
            service.tick(session, live.minute)
        done += batch_minutes
        if progress is not None:
            progress(done, total)
    report = score_trial(engine, world, faults, first, end, processor.stats.points, total)
    for outcome in report.faults:
        outcome.seed = seed
    return report


@dataclass(frozen=True)
class Segment:
    """One simulated stretch of a trial: its own world (``seed``), its own database, a day of
    warm-up, then ``kinds`` as faults in that order."""

    seed: int
    kinds: tuple[str, ...]


def plan_segments(seed: int, per_kind: int, segments: int) -> list[Segment]:
    """``per_kind`` faults of every kind, shuffled and dealt into ``segments`` stretches of
    nearly equal length, each on its own world (seeds ``seed``, ``seed + 2``, ...)."""
    rng = np.random.default_rng(seed)
    kinds = [k for k in FAULT_KINDS for _ in range(per_kind)]
    rng.shuffle(kinds)
    count = max(1, min(segments, len(kinds)))
    return [Segment(seed + 2 * i, tuple(kinds[i::count])) for i in range(count)]


def run_segment(
    folder: str, segment: Segment, options: dict[str, Any], progress: Any = None
) -> TrialReport:
    """:func:`run_trial_in` as a process pool's job (everything in and out pickles);
    ``progress`` is a queue that hears ``(seed, minutes simulated since the last report)``."""
    last = [0]

    def step(done: int, total: int) -> None:
        if progress is not None and (done - last[0] >= 60 or done >= total):
            progress.put((segment.seed, done - last[0]))
            last[0] = done

    return run_trial_in(Path(folder), segment, options, step)


def merge_reports(reports: Sequence[TrialReport]) -> TrialReport:
    """One report over several segments (faults, incidents and days added up)."""
    merged = TrialReport(
        faults=[o for r in reports for o in r.faults],
        incidents=sum(r.incidents for r in reports),
        false_incidents=sum(r.false_incidents for r in reports),
        measured_days=sum(r.measured_days for r in reports),
        points=sum(r.points for r in reports),
        minutes=sum(r.minutes for r in reports),
        false_keys=[k for r in reports for k in r.false_keys],
    )
    merged.by_kind = summarise_kinds(merged.faults)
    return merged


def run_parallel_trial(
    folder: Path,
    segments: Sequence[Segment],
    *,
    workers: int,
    options: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrialReport:
    """Run ``segments`` in ``workers`` processes (1: in this one) and merge their reports.
    Simulated time runs as fast as each process can go, so the segments are independent
    simulated days that need no wall-clock coordination."""
    options = options or {}
    if workers <= 1:
        reports = []
        offset = [0]

        def local(done: int, total: int) -> None:
            if progress is not None:
                progress(offset[0] + done, -1)

        for segment in segments:
            report = run_trial_in(folder, segment, options, local)
            offset[0] += report.minutes
            reports.append(report)
        return merge_reports(reports)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue()
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(run_segment, str(folder), s, options, queue) for s in segments]
            done_minutes = 0
            while not all(f.done() for f in futures):
                try:
                    _, moved = queue.get(timeout=0.5)
                except Exception:  # queue.Empty: nothing new within half a second
                    continue
                done_minutes += moved
                if progress is not None:
                    progress(done_minutes, -1)
            reports = [f.result() for f in futures]
    return merge_reports(reports)


def run_trial_in(
    folder: Path, segment: Segment, options: dict[str, Any], progress: Callable[[int, int], None]
) -> TrialReport:
    """One segment in this process (the same database set-up as :func:`run_segment`)."""
    from ssmas.core.db import make_engine
    from ssmas.core.db.migrate import upgrade

    path = Path(folder) / f"segment-{segment.seed}.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    try:
        return run_trial(
            engine,
            seed=segment.seed,
            per_kind=0,
            kinds=segment.kinds,
            progress=progress,
            **options,
        )
    finally:
        engine.dispose()


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
        false_keys=[
            f"{key}@{opened:%Y-%m-%d %H:%M}" for iid, key, opened in incidents if iid not in claimed
        ],
    )
    report.by_kind = summarise_kinds(outcomes)
    return report


def summarise_kinds(outcomes: Sequence[FaultOutcome]) -> dict[str, dict[str, float]]:
    """Per kind: faults, % detected within 10 minutes, incidents per fault, median delay."""
    by_kind: dict[str, dict[str, float]] = {}
    for kind in FAULT_KINDS:
        of_kind = [o for o in outcomes if o.fault.kind == kind]
        if not of_kind:
            continue
        delays = [o.delay_min for o in of_kind if o.delay_min is not None]
        by_kind[kind] = {
            "faults": len(of_kind),
            "detected_pct": 100.0
            * sum(o.delay_min is not None and o.delay_min <= 10 for o in of_kind)
            / len(of_kind),
            "incidents_per_fault": sum(len(o.incidents) for o in of_kind) / len(of_kind),
            "exactly_one_pct": 100.0 * sum(len(o.incidents) == 1 for o in of_kind) / len(of_kind),
            "median_delay_min": float(np.median(delays)) if delays else float("nan"),
        }
    return by_kind


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
