"""Live mode: one simulated minute per tick, metrics published on the bus, knobs read each minute.

Every minute the simulator reads the control plane and the injected faults from the database,
simulates that minute's traffic and publishes one ``metrics.adops`` message per entity (publisher,
partner, exchange). A remediation written to the control plane therefore shows in the next
published minute: the closed loop the AdOps agents act on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ssmas.exchange.conditions import capacity_per_unit, resolve_conditions
from ssmas.exchange.control_plane import ControlPlane
from ssmas.exchange.demand import PartnerTable
from ssmas.exchange.engine import Block, simulate_block
from ssmas.exchange.faults import Fault
from ssmas.exchange.injector import FaultInjector
from ssmas.exchange.metrics import TOPIC, block_metrics, metric_points
from ssmas.exchange.seasonality import expected_minute_volume
from ssmas.exchange.world import World, build_world

if TYPE_CHECKING:
    from ssmas.core.bus import Bus
    from ssmas.exchange.control_store_sql import SqlFaultStore
    from ssmas.settings import Settings

LIVE_STREAM = 2
DEFAULT_LIVE_VOLUME = 10_000_000.0  # requests a day: enough for stable per-minute metrics
Publish = Callable[[list[dict[str, Any]]], None]


@dataclass
class LiveReport:
    """What a live run did: minutes simulated and metric points published."""

    minutes: int = 0
    points: int = 0
    last_minute: datetime | None = None


def floor_minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


class LiveExchange:
    """Steps the world one minute at a time against a control plane and a fault source."""

    def __init__(
        self,
        world: World,
        plane: ControlPlane,
        *,
        start: datetime,
        impressions_per_day: float = DEFAULT_LIVE_VOLUME,
        faults: Callable[[datetime], list[Fault]] | None = None,
    ) -> None:
        if not impressions_per_day > 0:
            raise ValueError("impressions per day must be positive")
        self.world = world
        self._table = PartnerTable.of(world)
        self._plane = plane
        self._start = floor_minute(start)
        self._per_day = impressions_per_day
        self._unit_capacity = capacity_per_unit(impressions_per_day)
        self._faults = faults or (lambda _at: [])
        self._injector = FaultInjector(world, plane, [], sim_time=False)
        self.minute = self._start

    def step(self) -> tuple[Block, list[dict[str, Any]]]:
        """Simulate the current minute; returns its block and metric points, then advances."""
        at = self.minute
        active = self._faults(at)
        for fault in active:
            self._injector.add(fault)
        self._injector.sync(at)
        state = self._plane.current().state
        conditions = resolve_conditions(self.world, state, active, at, self._unit_capacity)
        expected = expected_minute_volume(self._per_day, at.date(), self._start.date())
        index = at.hour * 60 + at.minute
        key = (LIVE_STREAM, at.date().toordinal(), index)
        rng = np.random.default_rng(np.random.SeedSequence(self.world.seed, spawn_key=key))
        block = simulate_block(
            self.world, self._table, at, [conditions], expected[index : index + 1], rng
        )
        points = metric_points(block_metrics(self.world, block))
        self.minute = at + timedelta(minutes=1)
        return block, points


def bus_publisher(bus: Bus) -> Publish:
    """Publish points on ``metrics.adops``; the key makes a re-published minute a no-op."""

    def publish(points: list[dict[str, Any]]) -> None:
        items = [(f"{p['entity_type']}:{p['entity_id']}:{p['ts']}", p) for p in points]
        bus.publish_batch(TOPIC, items)

    return publish


def run_loop(
    exchange: LiveExchange,
    publish: Publish,
    *,
    speed: float,
    minutes: int | None,
    stop_event: threading.Event | None,
    on_minute: Callable[[datetime], None] | None = None,
) -> LiveReport:
    """Step ``minutes`` times (forever if None) at one minute per ``60 / speed`` seconds."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    stop = stop_event or threading.Event()
    tick = 60.0 / speed
    report = LiveReport()
    deadline = time.monotonic()
    while (minutes is None or report.minutes < minutes) and not stop.is_set():
        _, points = exchange.step()
        publish(points)
        report.minutes += 1
        report.points += len(points)
        report.last_minute = exchange.minute - timedelta(minutes=1)
        if on_minute is not None:
            on_minute(exchange.minute)
        deadline += tick  # keep the pace even when a step takes part of the tick
        if stop.wait(max(0.0, deadline - time.monotonic())):
            break
    return report


def run_live(
    settings: Settings,
    *,
    speed: float = 60.0,
    minutes: int | None = None,
    stop_event: threading.Event | None = None,
    seed: int = 42,
    impressions_per_day: float = DEFAULT_LIVE_VOLUME,
    start: datetime | None = None,
) -> LiveReport:
    """Run the live exchange for the platform: database control plane, metrics on the bus."""
    from ssmas.core.bus import bus_from_settings
    from ssmas.exchange.control_store_sql import open_sql_stores

    world = build_world(seed)
    plane, fault_store = open_sql_stores(settings.resolved_database_url, world)
    bus = bus_from_settings(settings)
    try:
        exchange = LiveExchange(
            world,
            plane,
            start=start or datetime.now(UTC),
            impressions_per_day=impressions_per_day,
            faults=_store_faults(fault_store),
        )
        clock = LiveClock(settings.data_dir)
        return run_loop(
            exchange,
            bus_publisher(bus),
            speed=speed,
            minutes=minutes,
            stop_event=stop_event,
            on_minute=lambda at: clock.write(at, speed),
        )
    finally:
        bus.close()


class LiveClock:
    """The live simulator's next simulated minute, kept in a small file for ``inject``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "exchange" / "live_clock.json"

    def write(self, next_minute: datetime, speed: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"next_minute": next_minute.isoformat(), "speed": speed}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        tmp.replace(self.path)

    def next_minute(self) -> datetime | None:
        """The next minute the live simulator will run, or None when it never ran here."""
        try:
            body = json.loads(self.path.read_text())
            return datetime.fromisoformat(body["next_minute"])
        except (OSError, ValueError, KeyError):
            return None


def _store_faults(store: SqlFaultStore) -> Callable[[datetime], list[Fault]]:
    def active(at: datetime) -> list[Fault]:
        # A window slightly wider than the minute so a configuration fault's end is seen.
        return store.overlapping(at - timedelta(days=1), at + timedelta(minutes=1))

    return active
