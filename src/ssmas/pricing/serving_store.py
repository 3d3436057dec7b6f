"""Tables of the serving side and the only code that reads or writes them.

``pricing_captures`` holds the sampled predictions (request, answer, variant, version);
``pricing_floor_decisions`` every floor sent; ``pricing_outcomes`` realised prices posted back;
``pricing_floor_configs`` one row per publisher; ``pricing_drift_reports`` the drift history.
Functions take an ``Engine`` and run Core statements (bulk inserts, windowed reads).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ssmas.core.db import Base, JsonType, UtcDateTime
from ssmas.core.db.bulk import bulk_insert
from ssmas.pricing.floors import PublisherFloorConfig

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


def insert_rows(
    engine: Engine, table: sa.Table, rows: Sequence[Row], *, chunk: int = INSERT_CHUNK
) -> int:
    """Insert ``rows`` in one transaction, ``chunk`` rows per executemany; returns the count.

    The capture writer calls this from a background thread of the serving process, where
    every microsecond of Python it runs is a microsecond a request may wait for the GIL. So
    rows go through :func:`~ssmas.core.db.bulk.bulk_insert` (the column types' processors,
    one executemany: ~4 µs a capture row instead of SQLAlchemy's ~14), and between chunks the
    thread sleeps for zero seconds, which hands the GIL to a waiting request at once.
    """
    if not rows:
        return 0
    with engine.begin() as conn:
        for start in range(0, len(rows), chunk):
            if start:
                time.sleep(0)  # let the event loop run between chunks
            bulk_insert(conn, table, rows[start : start + chunk])
    return len(rows)


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
