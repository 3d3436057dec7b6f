"""Tables of the serving side and the only code that reads or writes them.

``pricing_captures`` holds the sampled predictions (request, answer, variant, version);
``pricing_floor_decisions`` every floor sent; ``pricing_outcomes`` realised prices posted back;
``pricing_floor_configs`` one row per publisher; ``pricing_drift_reports`` the drift history.
Functions take an ``Engine`` and run Core statements (bulk inserts, windowed reads, and the
chunked deletes of :func:`prune` that keep the traffic tables within their retention).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ssmas.core.db import Base, JsonType, UtcDateTime
from ssmas.core.db.bulk import bulk_insert
from ssmas.pricing.floors.formula import PublisherFloorConfig

_meta = Base.metadata

captures = sa.Table(
    "pricing_captures",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("captured_at", UtcDateTime, nullable=False, index=True),
    sa.Column("impression_id", sa.String(128), nullable=False, index=True),
    sa.Column("variant", sa.String(16), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("fallback", sa.Boolean, nullable=False),
    sa.Column("request", JsonType, nullable=False),
    sa.Column("predicted_cpm", sa.Float, nullable=False),
    sa.Column("lower", sa.Float, nullable=False),
    sa.Column("upper", sa.Float, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
)

floor_decisions = sa.Table(
    "pricing_floor_decisions",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decided_at", UtcDateTime, nullable=False, index=True),
    sa.Column("impression_id", sa.String(128), nullable=False, index=True),
    sa.Column("publisher_id", sa.String(64), nullable=True, index=True),
    sa.Column("floor", sa.Float, nullable=True),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("predicted_cpm", sa.Float, nullable=True),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("variant", sa.String(16), nullable=False),
    sa.Column("fallback", sa.Boolean, nullable=False),
    sa.Column("control", sa.Boolean, nullable=False),
)

outcomes = sa.Table(
    "pricing_outcomes",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", UtcDateTime, nullable=False, index=True),
    sa.Column("impression_id", sa.String(128), nullable=False, index=True),
    sa.Column("variant", sa.String(16), nullable=True),
    sa.Column("model_version", sa.String(32), nullable=True),
    sa.Column("predicted_cpm", sa.Float, nullable=True),
    sa.Column("clearing_cpm", sa.Float, nullable=True),
    sa.Column("filled", sa.Boolean, nullable=False),
    sa.Column("revenue_eur", sa.Float, nullable=False),
)

floor_configs = sa.Table(
    "pricing_floor_configs",
    _meta,
    sa.Column("publisher_id", sa.String(64), primary_key=True),
    sa.Column("config", JsonType, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

drift_reports = sa.Table(
    "pricing_drift_reports",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("computed_at", UtcDateTime, nullable=False, index=True),
    sa.Column("window_start", UtcDateTime, nullable=False),
    sa.Column("window_end", UtcDateTime, nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("report", JsonType, nullable=False),
)

Row = dict[str, Any]
INSERT_CHUNK = 100  # rows per executemany: a few hundred µs of GIL-held work
PRUNE_CHUNK = 5000  # rows per DELETE transaction (see prune)
TX_BUDGET_S = 0.05  # an insert transaction commits after this long (see insert_rows)
TX_GAP_S = 0.02  # and the writer lock stays free this long before the next one

# The timestamp each pruned table's retention is measured on.
STAMPS: dict[str, sa.Column[Any]] = {
    captures.name: captures.c.captured_at,
    floor_decisions.name: floor_decisions.c.decided_at,
    outcomes.name: outcomes.c.received_at,
    drift_reports.name: drift_reports.c.computed_at,
}
TRAFFIC_TABLES: tuple[sa.Table, ...] = (captures, floor_decisions, outcomes)


def insert_rows(
    engine: Engine,
    table: sa.Table,
    rows: Sequence[Row],
    *,
    chunk: int = INSERT_CHUNK,
    tx_budget_s: float | None = None,
    gap_s: float | None = None,
    on_commit: Callable[[int], None] | None = None,
) -> int:
    """Insert ``rows``, ``chunk`` rows per executemany; returns the count.

    The capture writer calls this from a background thread of the serving process, where
    every microsecond of Python it runs is a microsecond a request may wait for the GIL. So
    rows go through :func:`~ssmas.core.db.bulk.bulk_insert` (the column types' processors,
    one executemany: ~4 µs a capture row instead of SQLAlchemy's ~14), and between chunks the
    thread sleeps for zero seconds, which hands the GIL to a waiting request at once.

    A transaction is committed once it has run ``tx_budget_s`` (default :data:`TX_BUDGET_S`),
    and the next starts ``gap_s`` (:data:`TX_GAP_S`) later. SQLite has one writer lock, and
    another writer waiting on it (a login creating a key, an outcome post) polls for it every
    few tens of milliseconds up to its busy timeout: a backlog of 50,000 decision rows written
    as one transaction held the lock for seconds on a loaded host and made such a writer fail
    with "database is locked". Each committed transaction's row count goes to ``on_commit``;
    when a later one fails, the rows already committed stay written and the error is raised.
    """
    if not rows:
        return 0
    budget = TX_BUDGET_S if tx_budget_s is None else tx_budget_s
    gap = TX_GAP_S if gap_s is None else gap_s
    written = 0
    while written < len(rows):
        if written:
            time.sleep(gap)  # the lock is free: a waiting writer's next poll gets it
        started = time.perf_counter()
        in_tx = 0
        with engine.begin() as conn:
            while written + in_tx < len(rows):
                if in_tx:
                    if time.perf_counter() - started >= budget:
                        break
                    time.sleep(0)  # let the event loop run between chunks
                start = written + in_tx
                batch = rows[start : start + chunk]
                bulk_insert(conn, table, batch)
                in_tx += len(batch)
        written += in_tx
        if on_commit is not None:
            on_commit(in_tx)
    return written


def read_captures(
    engine: Engine, since: datetime, until: datetime, *, limit: int = 20_000
) -> list[Row]:
    """The most recent captured predictions in ``[since, until)``, at most ``limit``."""
    query = (
        sa.select(captures)
        .where(captures.c.captured_at >= since, captures.c.captured_at < until)
        .order_by(captures.c.captured_at.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def read_outcomes(engine: Engine, since: datetime, until: datetime) -> list[Row]:
    """Outcomes received in ``[since, until)`` with the prediction they answer, if known."""
    query = sa.select(outcomes).where(
        outcomes.c.received_at >= since, outcomes.c.received_at < until
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def count_rows(engine: Engine, table: sa.Table) -> int:
    """Rows in ``table`` (for the dashboard and tests)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def get_floor_config(engine: Engine, publisher_id: str) -> PublisherFloorConfig | None:
    """A publisher's stored floor configuration, or None when it has none."""
    query = sa.select(floor_configs.c.config).where(floor_configs.c.publisher_id == publisher_id)
    with engine.connect() as conn:
        stored = conn.execute(query).scalar_one_or_none()
    return None if stored is None else PublisherFloorConfig.model_validate(stored)


def put_floor_config(
    engine: Engine,
    publisher_id: str,
    config: PublisherFloorConfig,
    *,
    at: datetime,
    actor: str,
) -> None:
    """Create or replace a publisher's floor configuration."""
    values = {"config": config.model_dump(mode="json"), "updated_at": at, "updated_by": actor}
    with engine.begin() as conn:
        updated = conn.execute(
            floor_configs.update()
            .where(floor_configs.c.publisher_id == publisher_id)
            .values(**values)
        ).rowcount
        if not updated:
            conn.execute(floor_configs.insert().values(publisher_id=publisher_id, **values))


def list_floor_configs(engine: Engine) -> list[Row]:
    """Every stored publisher configuration, by publisher id."""
    query = sa.select(floor_configs).order_by(floor_configs.c.publisher_id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def recent_drift_reports(engine: Engine, *, limit: int = 48) -> list[Row]:
    """The latest drift reports, oldest first."""
    query = sa.select(drift_reports).order_by(drift_reports.c.computed_at.desc()).limit(limit)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return rows[::-1]


def retention_cutoffs(
    now: datetime, traffic_hours: float, drift_report_hours: float
) -> dict[sa.Table, datetime]:
    """The cutoff of each pruned table: ``traffic_hours`` back for captures, decisions and
    outcomes, ``drift_report_hours`` for drift reports; a retention of 0 (keep forever) leaves
    its tables out."""
    cutoffs: dict[sa.Table, datetime] = {}
    if traffic_hours > 0:
        for table in TRAFFIC_TABLES:
            cutoffs[table] = now - timedelta(hours=traffic_hours)
    if drift_report_hours > 0:
        cutoffs[drift_reports] = now - timedelta(hours=drift_report_hours)
    return cutoffs


def count_older(engine: Engine, table: sa.Table, cutoff: datetime) -> int:
    """Rows of ``table`` stamped before ``cutoff`` (what :func:`prune` would delete)."""
    query = sa.select(sa.func.count()).select_from(table).where(STAMPS[table.name] < cutoff)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def prune(
    engine: Engine,
    cutoffs: Mapping[sa.Table, datetime],
    *,
    chunk: int = PRUNE_CHUNK,
    dry_run: bool = False,
    pause_s: float = 0.0,
    stop: threading.Event | None = None,
    on_chunk: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete the rows of each table stamped before its cutoff; returns the count per table.

    Rows go ``chunk`` at a time, each chunk its own transaction
    (``DELETE ... WHERE id IN (SELECT id ... WHERE stamp < cutoff LIMIT chunk)``, the stamp's
    index finds them): SQLite's single writer lock is held for one chunk only, so the capture
    writer's inserts wait milliseconds rather than the whole purge, and PostgreSQL never
    builds one transaction of millions of deleted rows. ``pause_s`` between chunks lets a
    writer waiting on the lock in; ``stop`` ends the purge between chunks (what was deleted is
    counted); ``on_chunk(table_name, deleted)`` follows progress. ``dry_run`` counts the rows
    that would go and deletes nothing.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1 row, got {chunk}")
    counts: dict[str, int] = {}
    for table, cutoff in cutoffs.items():
        if dry_run:
            counts[table.name] = count_older(engine, table, cutoff)
            continue
        doomed = sa.select(table.c.id).where(STAMPS[table.name] < cutoff).limit(chunk)
        statement = table.delete().where(table.c.id.in_(doomed))
        total = 0
        while stop is None or not stop.is_set():
            with engine.begin() as conn:
                deleted = int(conn.execute(statement).rowcount)
            total += deleted
            if on_chunk is not None and deleted:
                on_chunk(table.name, deleted)
            if deleted < chunk:
                break
            time.sleep(pause_s)
        counts[table.name] = total
    return counts
