"""Batch simulation: days of traffic streamed hour by hour into the Parquet lake.

Each (day, hour, block) draws from its own random stream, ``SeedSequence(seed, spawn_key=(1,
day ordinal, hour, block))`` (the keys ``SeedSequence.spawn`` would assign), so hours can run in
any order or in parallel processes and the same seed always writes byte-identical files. Memory
stays bounded by one ten-minute block, whatever the daily volume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa

from ssmas.exchange import lake
from ssmas.exchange.conditions import Conditions, capacity_per_unit, resolve_conditions
from ssmas.exchange.control_plane import ControlVersion, MemoryControlPlane
from ssmas.exchange.demand import PartnerTable
from ssmas.exchange.engine import Block, FloorFunction, simulate_block
from ssmas.exchange.faults import Fault
from ssmas.exchange.injector import FaultInjector
from ssmas.exchange.labels import write_labels
from ssmas.exchange.metrics import METRIC_SCHEMA, block_metrics
from ssmas.exchange.records import IMPRESSION_SCHEMA, RecordEncoder
from ssmas.exchange.seasonality import expected_minute_volume
from ssmas.exchange.world import World, build_world

TRAFFIC_STREAM = 1
BLOCK_MINUTES = 10
Progress = Callable[[int, datetime], None]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: ``days`` days from ``start`` at ``impressions_per_day`` requests a day."""

    start: date
    days: int
    impressions_per_day: float
    seed: int = 42
    publishers: int = 40
    faults: tuple[Fault, ...] = ()
    workers: int = 1
    start_hour: int = 0  # first simulated hour of the first day (tests simulate a window)
    hours: int | None = None  # number of hours; default: every hour of every day

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if not 0 <= self.start_hour < 24:
            raise ValueError("start hour must be in 0..23")
        if self.hours is not None and self.hours < 1:
            raise ValueError("hours must be at least 1")
        if not self.impressions_per_day > 0:
            raise ValueError("impressions per day must be positive")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")


@dataclass
class SimulationReport:
    """What a batch run wrote: rows per hour, totals, and where."""

    out: Path
    rows: int = 0
    filled: int = 0
    revenue_eur: float = 0.0
    hours: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HourJob:
    """Everything a worker process needs to simulate and write one hour."""

    config: SimulationConfig
    hour_start: datetime
    versions: tuple[ControlVersion, ...]
    out: Path | None


@lru_cache(maxsize=4)
def _world(seed: int, publishers: int) -> tuple[World, PartnerTable, RecordEncoder]:
    world = build_world(seed, publishers=publishers)
    return world, PartnerTable.of(world), RecordEncoder(world)


def block_rng(seed: int, at: datetime, block: int) -> np.random.Generator:
    """The random stream of one block: independent of every other block and of run order."""
    key = (TRAFFIC_STREAM, at.date().toordinal(), at.hour, block)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _state_at(versions: Sequence[ControlVersion], at: datetime) -> ControlVersion:
    found = versions[0]
    for version in versions:
        if version.created_at <= at:
            found = version
    return found


def hour_blocks(
    job: HourJob, floor_fn: FloorFunction | None = None
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(impressions, metrics) tables of each block of the job's hour."""
    world, _, encoder = _world(job.config.seed, job.config.publishers)
    for result in hour_results(job, floor_fn):
        prefix = f"{result.start:%Y%m%d%H%M}-"
        yield encoder.encode(result, prefix), block_metrics(world, result)


def hour_results(job: HourJob, floor_fn: FloorFunction | None = None) -> Iterator[Block]:
    """The simulated blocks of the job's hour (ten minutes each)."""
    cfg = job.config
    world, table, _ = _world(cfg.seed, cfg.publishers)
    expected = expected_minute_volume(cfg.impressions_per_day, job.hour_start.date(), cfg.start)
    unit_capacity = capacity_per_unit(cfg.impressions_per_day)
    first_minute = job.hour_start.hour * 60
    memo: dict[tuple[object, ...], Conditions] = {}
    for block in range(60 // BLOCK_MINUTES):
        start = job.hour_start + timedelta(minutes=block * BLOCK_MINUTES)
        conditions: list[Conditions] = []
        for minute in range(BLOCK_MINUTES):
            at = start + timedelta(minutes=minute)
            version = _state_at(job.versions, at)
            active = [f for f in cfg.faults if f.active(at)]
            # Only a decaying fault changes minute by minute; everything else is a step.
            key = (version.version, *((f.fault_id, f.kind == "rpm_decay" and at) for f in active))
            if key not in memo:
                memo[key] = resolve_conditions(world, version.state, active, at, unit_capacity)
            conditions.append(memo[key])
        lo = first_minute + block * BLOCK_MINUTES
        result = simulate_block(
            world,
            table,
            start,
            conditions,
            expected[lo : lo + BLOCK_MINUTES],
            block_rng(cfg.seed, job.hour_start, block),
            floor_fn,
        )
        yield result


def run_hour(job: HourJob) -> tuple[str, int, int, float]:
    """Simulate one hour and write its raw and metric partitions; returns its totals."""
    assert job.out is not None
    raw = lake.PartitionWriter(
        lake.hour_dir(job.out, lake.RAW, job.hour_start) / "part-0.parquet", IMPRESSION_SCHEMA
    )
    met = lake.PartitionWriter(
        lake.hour_dir(job.out, lake.METRICS, job.hour_start) / "part-0.parquet", METRIC_SCHEMA
    )
    filled, revenue = 0, 0.0
    for impressions, metrics in hour_blocks(job):
        raw.write(impressions)
        met.write(metrics)
        filled += int(impressions.column("filled").to_numpy().sum())
        revenue += float(impressions.column("clearing_cpm").to_numpy().sum(dtype=np.float64))
    raw.close()
    met.close()
    return job.hour_start.isoformat(), raw.rows, filled, revenue / 1000.0


def control_timeline(world: World, config: SimulationConfig) -> MemoryControlPlane:
    """The batch control plane: world defaults plus the configuration faults' writes in time."""
    plane = MemoryControlPlane(world)
    injector = FaultInjector(world, plane, config.faults, sim_time=True)
    for boundary in injector.boundaries():
        injector.sync(boundary)
    return plane


def hour_starts(config: SimulationConfig) -> list[datetime]:
    first = datetime.combine(config.start, datetime.min.time(), tzinfo=UTC)
    first += timedelta(hours=config.start_hour)
    count = config.hours if config.hours is not None else config.days * 24 - config.start_hour
    return [first + timedelta(hours=h) for h in range(count)]


def expected_rows(config: SimulationConfig) -> float:
    """Expected number of requests the run will write (for progress bars)."""
    total = 0.0
    for at in hour_starts(config):
        minutes = expected_minute_volume(config.impressions_per_day, at.date(), config.start)
        total += float(minutes[at.hour * 60 : at.hour * 60 + 60].sum())
    return total


def simulate_to_lake(
    config: SimulationConfig, out: Path, progress: Progress | None = None
) -> SimulationReport:
    """Write ``config``'s days to the lake at ``out``, hour by hour (``workers`` processes)."""
    world, _, _ = _world(config.seed, config.publishers)
    plane = control_timeline(world, config)
    versions = tuple(plane.versions())
    jobs = [HourJob(config, at, versions, out) for at in hour_starts(config)]
    report = SimulationReport(out=out)

    def record(result: tuple[str, int, int, float]) -> None:
        key, rows, filled, revenue = result
        report.hours[key] = rows
        report.rows += rows
        report.filled += filled
        report.revenue_eur += revenue
        if progress is not None:
            progress(rows, datetime.fromisoformat(key))

    if config.workers == 1:
        for job in jobs:
            record(run_hour(job))
    else:
        with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn")) as pool:
            for future in as_completed([pool.submit(run_hour, job) for job in jobs]):
                record(future.result())
    report.hours = dict(sorted(report.hours.items()))
    write_labels(out, world, config, versions)
    return report


def simulate_frame(
    config: SimulationConfig,
    *,
    hours: int | None = None,
    floor_fn: FloorFunction | None = None,
) -> tuple[pa.Table, pa.Table]:
    """In-memory (impressions, metrics) for the first ``hours`` hours (default: all days)."""
    world, _, _ = _world(config.seed, config.publishers)
    versions = tuple(control_timeline(world, config).versions())
    starts = hour_starts(config)[: hours if hours is not None else None]
    impressions, metrics = [], []
    for at in starts:
        for imp, met in hour_blocks(HourJob(config, at, versions, None), floor_fn):
            impressions.append(imp)
            metrics.append(met)
    return pa.concat_tables(impressions), pa.concat_tables(metrics)


def simulate_values(config: SimulationConfig) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Block by block: the logged impressions and every partner's value (partners, rows).

    The same streams as :func:`simulate_to_lake`, so the rows are the lake's rows; the values are
    what the responsive bidders of :mod:`ssmas.exchange.bidders` start from.
    """
    world, _, encoder = _world(config.seed, config.publishers)
    versions = tuple(control_timeline(world, config).versions())
    for at in hour_starts(config):
        for result in hour_results(HourJob(config, at, versions, None)):
            yield encoder.encode(result, f"{result.start:%Y%m%d%H%M}-"), result.values
