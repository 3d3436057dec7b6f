"""Every accepted event archived as Parquet in the lake, one folder per day of the event's time,
queryable with DuckDB.

Layout: ``<root>/year=YYYY/month=MM/day=DD/part-<uuid>.parquet``, one file per batch the
dispatcher consumed (zstd, the exchange lake's writer options). Archiving happens before the
batch is acknowledged, so a batch that is delivered again after a crash is written again:
readers fold repeats by event id (:meth:`EventArchive.events` and the ``adops_events`` view).
"""

from __future__ import annotations

import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ssmas.adops.events.envelope import Event, parse_event

__all__ = ["ARCHIVE_SCHEMA", "EventArchive"]

ARCHIVE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("detail_type", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("resources", pa.list_(pa.string())),
        ("detail", pa.string()),
        ("event", pa.string()),
        ("archived_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _day_dir(root: Path, day: date) -> Path:
    return root / f"year={day.year:04d}" / f"month={day.month:02d}" / f"day={day.day:02d}"


def _sql_path(path: Path | str) -> str:
    return str(path).replace("'", "''")


class EventArchive:
    """The archive under ``root`` (by default ``<data_dir>/lake/events/adops``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def write(
        self,
        events: Sequence[Event],
        *,
        now: datetime | None = None,
        documents: Sequence[dict[str, Any]] | None = None,
    ) -> int:
        """Archive ``events`` (one file per day they fall on); returns how many rows.
        ``documents`` are the events' ``document()`` when the caller has them already."""
        if not events:
            return 0
        at = now or datetime.now(UTC)
        docs = documents if documents is not None else [e.document() for e in events]
        by_day: dict[date, list[tuple[Event, dict[str, Any]]]] = defaultdict(list)
        for event, doc in zip(events, docs, strict=True):
            by_day[event.time.date()].append((event, doc))
        name = f"part-{uuid.uuid4().hex}.parquet"
        for day, pairs in by_day.items():
            group = [e for e, _ in pairs]
            table = pa.table(
                {
                    "id": [e.id for e in group],
                    "source": [e.source for e in group],
                    "detail_type": [e.detail_type for e in group],
                    "time": [e.time for e in group],
                    "resources": [list(e.resources) for e in group],
                    "detail": [orjson.dumps(e.detail).decode() for e in group],
                    "event": [orjson.dumps(d).decode() for _, d in pairs],
                    "archived_at": [at] * len(group),
                },
                schema=ARCHIVE_SCHEMA,
            )
            folder = _day_dir(self.root, day)
            folder.mkdir(parents=True, exist_ok=True)
            # write aside, then rename: a reader never sees half a file
            partial = folder / f".{name}.tmp"
            pq.write_table(table, partial, compression="zstd", compression_level=1)
            partial.replace(folder / name)
        return len(events)

    def prune(self, before: date) -> int:
        """Delete the day folders before ``before``; returns how many days went."""
        if not self.root.exists():
            return 0
        gone = 0
        for folder in sorted(self.root.glob("year=*/month=*/day=*")):
            try:
                parts = dict(p.split("=", 1) for p in folder.parts[-3:])
                day = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
            except (KeyError, ValueError):
                continue  # not one of ours
            if day < before:
                shutil.rmtree(folder)
                gone += 1
        return gone

    def files(self, start: datetime | None = None, end: datetime | None = None) -> list[Path]:
        """Parquet files of the days between ``start`` and ``end`` (all when not given)."""
        if not self.root.exists():
            return []
        if start is None or end is None:
            return sorted(self.root.glob("year=*/month=*/day=*/part-*.parquet"))
        found: list[Path] = []
        day = start.astimezone(UTC).date()
        last = end.astimezone(UTC).date()
        while day <= last:
            found.extend(sorted(_day_dir(self.root, day).glob("part-*.parquet")))
            day += timedelta(days=1)
        return found

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the view ``adops_events`` (one row per event id)."""
        con = con or duckdb.connect()
        files = self.files()
        if files:
            glob = _sql_path(self.root) + "/year=*/month=*/day=*/part-*.parquet"
            con.execute(
                "CREATE OR REPLACE VIEW adops_events AS SELECT * EXCLUDE (year, month, day) "
                f"FROM read_parquet('{glob}', hive_partitioning = true) "
                "QUALIFY row_number() OVER (PARTITION BY id ORDER BY archived_at) = 1"
            )
        else:
            columns = ", ".join(
                f"CAST(NULL AS {t}) AS {n}"
                for n, t in (
                    ("id", "VARCHAR"),
                    ("source", "VARCHAR"),
                    ("detail_type", "VARCHAR"),
                    ("time", "TIMESTAMPTZ"),
                    ("resources", "VARCHAR[]"),
                    ("detail", "VARCHAR"),
                    ("event", "VARCHAR"),
                    ("archived_at", "TIMESTAMPTZ"),
                )
            )
            con.execute(f"CREATE OR REPLACE VIEW adops_events AS SELECT {columns} WHERE false")
        return con

    def count(self, start: datetime, end: datetime) -> int:
        """Distinct events whose time is in ``[start, end)``."""
        files = self.files(start, end)
        if not files:
            return 0
        con = duckdb.connect()
        try:
            row = con.execute(
                "SELECT COUNT(DISTINCT id) FROM read_parquet(?) WHERE time >= ? AND time < ?",
                [[str(f) for f in files], start, end],
            ).fetchone()
        finally:
            con.close()
        return int(row[0]) if row else 0

    def events(self, start: datetime, end: datetime, *, batch_rows: int = 5000) -> Iterator[Event]:
        """Archived events with ``start <= time < end``, each id once, in time order."""
        files = self.files(start, end)
        if not files:
            return
        con = duckdb.connect()
        try:
            con.execute("SET threads = 1")
            result = con.execute(
                "SELECT event FROM read_parquet(?) WHERE time >= ? AND time < ? "
                "QUALIFY row_number() OVER (PARTITION BY id ORDER BY archived_at) = 1 "
                "ORDER BY time, id",
                [[str(f) for f in files], start, end],
            )
            while True:
                rows = result.fetchmany(batch_rows)
                if not rows:
                    break
                for (text,) in rows:
                    yield parse_event(text)
        finally:
            con.close()
