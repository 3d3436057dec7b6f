"""Live mode: one simulated minute per tick, metrics published on the bus, knobs read each minute.

Every minute the simulator reads the control plane and the injected faults from the database,
simulates that minute's traffic and publishes one ``metrics.adops`` message per entity (publisher,
partner, exchange). A remediation written to the control plane therefore shows in the next
published minute: the closed loop the AdOps agents act on.

Another product can price the auctions: a :class:`LiveFloorProvider` installed in the process's
:func:`floor_slot` gives each minute's floors before the auctions clear (it sees the ad units'
own floors and may keep them) and is shown the cleared block afterwards. The exchange never
imports that product; a provider that raises leaves the ad units' floors in force.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import structlog

from ssmas.exchange.conditions import capacity_per_unit, resolve_conditions
from ssmas.exchange.control_plane import ControlPlane
from ssmas.exchange.demand import PartnerTable
from ssmas.exchange.engine import Block, simulate_block
from ssmas.exchange.faults import Fault
from ssmas.exchange.injector import FaultInjector
from ssmas.exchange.metrics import TOPIC, operator_points
from ssmas.exchange.seasonality import expected_minute_volume
from ssmas.exchange.traffic import Requests
from ssmas.exchange.world import World, build_world

if TYPE_CHECKING:
    from ssmas.core.bus import Bus
    from ssmas.core.platform import Platform
    from ssmas.exchange.control_store_sql import SqlFaultStore
    from ssmas.settings import Settings

LIVE_STREAM = 2
DEFAULT_LIVE_VOLUME = 10_000_000.0  # requests a day: enough for stable per-minute metrics
Publish = Callable[[list[dict[str, Any]]], None]
_log = structlog.get_logger(__name__)


class LiveFloorProvider(Protocol):
    """Prices the live exchange's auctions, one simulated minute at a time."""

    def floors(
        self, world: World, at: datetime, requests: Requests, unit_floors: np.ndarray
    ) -> np.ndarray:
        """The floor (EUR CPM, >= 0) of each request; ``unit_floors`` are the ad units' own."""
        ...

    def settle(self, world: World, at: datetime, block: Block) -> None:
        """The minute's cleared auctions (the requests are the ones :meth:`floors` priced)."""
        ...


class FloorSlot:
    """Where at most one :class:`LiveFloorProvider` plugs into a process's live exchange."""

    def __init__(self) -> None:
        self._provider: LiveFloorProvider | None = None
        self._lock = threading.Lock()

    @property
    def provider(self) -> LiveFloorProvider | None:
        return self._provider

    def install(self, provider: LiveFloorProvider) -> None:
        """Price the auctions with ``provider`` from the next simulated minute on."""
        with self._lock:
            self._provider = provider

    def remove(self, provider: LiveFloorProvider) -> None:
        """Back to the ad units' own floors, if ``provider`` is still the one installed."""
        with self._lock:
            if self._provider is provider:
                self._provider = None


FLOOR_SLOT = "exchange.floor_slot"  # the name the slot is attached under (``Platform.attach``)


def floor_slot(platform: Platform) -> FloorSlot:
    """The floor slot of ``platform``'s live exchange, created and attached on first use."""
    return platform.runtime_or_build(FLOOR_SLOT, FloorSlot, lambda _p: FloorSlot())


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
        floors: FloorSlot | None = None,
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
        self._floors = floors
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
        provider = self._floors.provider if self._floors is not None else None
        floor_fn = None
        if provider is not None:
            floor_fn = self._priced_by(provider, at, np.asarray(conditions.floors, np.float32))
        block = simulate_block(
            self.world, self._table, at, [conditions], expected[index : index + 1], rng, floor_fn
        )
        if provider is not None:
            try:
                provider.settle(self.world, at, block)
            except Exception:  # the exchange keeps running whatever the provider does
                _log.exception("live_floor_settle_failed")
        points = operator_points(self.world, block, conditions.capacity_per_min)
        self.minute = at + timedelta(minutes=1)
        return block, points

    def _priced_by(
        self, provider: LiveFloorProvider, at: datetime, unit_floors: np.ndarray
    ) -> Callable[[Requests], np.ndarray]:
        def floor_fn(requests: Requests) -> np.ndarray:
            own: np.ndarray = np.asarray(unit_floors[requests.unit], dtype=np.float32)
            try:
                floors = np.asarray(
                    provider.floors(self.world, at, requests, own.copy()), dtype=np.float32
                )
            except Exception:
                _log.exception("live_floor_provider_failed")
                return own
            if floors.shape != own.shape:
                _log.warning("live_floor_provider_bad_shape", got=floors.shape, want=own.shape)
                return own
            # A bad value (negative, NaN) falls back to the ad unit's floor, never breaks clearing.
            return np.asarray(np.where(np.isfinite(floors) & (floors >= 0), floors, own))

        return floor_fn


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
    floors: FloorSlot | None = None,
) -> LiveReport:
    """Run the live exchange for the platform: database control plane, metrics on the bus;
    ``floors`` lets another product price the auctions (see :func:`floor_slot`)."""
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
            floors=floors,
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
