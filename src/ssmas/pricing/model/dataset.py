"""Training data from the Parquet lake, read through DuckDB: a day range and its time splits.

With three days or more, the last day is the **test** day, the one before it the
**calibration** day (conformal intervals, floor tuning) and the rest **train**. With one or two
days the split is by ten-minute blocks inside every hour (minutes 0-39 train, 40-49
calibration, 50-59 test): still time-ordered blocks, and every hour of the day is seen in
training. Only impressions that went to auction (``status = 'ok'``) are read; training rows are
the filled ones. Nothing is loaded whole unless asked: :meth:`LakeReader.batches` streams.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ssmas.exchange import LAKE_IMPRESSIONS, lake_day_dir, lake_days

Split = Literal["train", "calibration", "test", "all"]
SplitKind = Literal["auto", "days", "blocks"]
SPLITS: tuple[Split, ...] = ("train", "calibration", "test")
REQUEST_COLUMNS: tuple[str, ...] = (
    "impression_id",
    "ts",
    "publisher_id",
    "ad_unit_id",
    "hour_of_day",
    "day_of_week",
    "country_tier",
    "device_category",
    "format",
    "inventory_type",
    "domain",
    "user_engagement_score",
    "device_performance_score",
    "historical_ctr_avg",
)
AUCTION_COLUMNS: tuple[str, ...] = (
    "auction_type",
    "floor_cpm",
    "top_bid_cpm",
    "second_bid_cpm",
    "clearing_cpm",
    "filled",
)
TRAINING_COLUMNS: tuple[str, ...] = (*REQUEST_COLUMNS, "clearing_cpm")
LAKE_COLUMNS: tuple[str, ...] = (*REQUEST_COLUMNS, *AUCTION_COLUMNS)
BLOCK_SPLIT = {"train": "minute(ts) < 40", "calibration": "minute(ts) BETWEEN 40 AND 49",
               "test": "minute(ts) >= 50"}  # fmt: skip


class LakeError(ValueError):
    """The lake or the requested range cannot be read (no such directory, no days in range)."""


def _day_literal(day: date) -> str:
    return f"TIMESTAMPTZ '{day.isoformat()} 00:00:00+00'"


def day_predicate(days: Sequence[date]) -> str:
    """SQL predicate on ``ts`` selecting whole UTC days (contiguous runs become ranges)."""
    if not days:
        return "FALSE"
    ordered = sorted(set(days))
    runs: list[tuple[date, date]] = []
    for day in ordered:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    parts = [
        f"(ts >= {_day_literal(a)} AND ts < {_day_literal(b + timedelta(days=1))})" for a, b in runs
    ]
    return "(" + " OR ".join(parts) + ")"


def plan_splits(days: Sequence[date], kind: SplitKind = "auto") -> dict[str, str]:
    """SQL predicate of each split for the given days (see the module docstring)."""
    if not days:
        raise LakeError("no days to split")
    ordered = sorted(days)
    if kind == "days" and len(ordered) < 3:
        raise LakeError(f"a split by days needs at least 3 days, got {len(ordered)}")
    if kind == "days" or (kind == "auto" and len(ordered) >= 3):
        return {
            "train": day_predicate(ordered[:-2]),
            "calibration": day_predicate(ordered[-2:-1]),
            "test": day_predicate(ordered[-1:]),
        }
    return {name: f"({BLOCK_SPLIT[name]})" for name in SPLITS}


class LakeReader:
    """Reads the impressions of ``[start, end]`` (UTC days, inclusive) from the lake at ``root``."""

    def __init__(
        self,
        root: Path,
        start: date,
        end: date,
        *,
        threads: int = 2,
        memory_limit: str | None = None,
        split: SplitKind = "auto",
        train_fraction: float = 1.0,
        materialize_rows: int = 3_000_000,
    ) -> None:
        if not 0.0 < train_fraction <= 1.0:
            raise LakeError(f"train fraction must be in (0, 1], got {train_fraction}")
        if end < start:
            raise LakeError(f"--to ({end}) is before --from ({start})")
        root = Path(root)
        if not (root / LAKE_IMPRESSIONS).is_dir():
            raise LakeError(f"no lake at {root}: expected {LAKE_IMPRESSIONS}/ under it")
        self.root = root
        self.days = [d for d in lake_days(root) if start <= d <= end]
        if not self.days:
            raise LakeError(f"the lake at {root} has no impressions from {start} to {end}")
        self.splits = plan_splits(self.days, split)
        if train_fraction < 1.0:  # a seeded, stable subset of impressions (by id hash)
            kept = round(train_fraction * 10_000)
            self.splits["train"] += f" AND hash(impression_id) % 10000 < {kept}"
        self._kind: Literal["days", "blocks"] = (
            "days" if split == "days" or (split == "auto" and len(self.days) >= 3) else "blocks"
        )
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {max(1, int(threads))}")
        self.con.execute("SET TimeZone = 'UTC'")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")
        files = [
            path
            for d in self.days
            for path in sorted(lake_day_dir(root, LAKE_IMPRESSIONS, d).glob("*/*.parquet"))
        ]
        self.rows = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
        listing = ", ".join("'" + str(path).replace("'", "''") + "'" for path in files)
        source = (
            f"SELECT {', '.join(LAKE_COLUMNS)} FROM read_parquet([{listing}], "
            "hive_partitioning = false, union_by_name = true) WHERE status = 'ok'"
        )
        # Small ranges are loaded once (many small hour files cost more to open than to read);
        # large ones stay a view, scanned batch by batch.
        kind = "TABLE" if self.rows <= materialize_rows else "VIEW"
        self.con.execute(f"CREATE OR REPLACE {kind} impressions AS {source}")

    @property
    def split_kind(self) -> Literal["days", "blocks"]:
        """``days`` when whole days are held out, ``blocks`` for the in-hour split."""
        return self._kind

    def where(self, split: Split, *, filled_only: bool = False) -> str:
        """The SQL predicate of ``split`` (optionally filled rows only)."""
        clauses = [] if split == "all" else [self.splits[split]]
        if filled_only:
            clauses.append("filled AND isfinite(clearing_cpm)")
        return " AND ".join(clauses) or "TRUE"

    def relation(self, split: Split, *, filled_only: bool = False) -> str:
        """A parenthesised subquery usable in FROM."""
        return f"(SELECT * FROM impressions WHERE {self.where(split, filled_only=filled_only)})"

    def count(self, split: Split, *, filled_only: bool = False) -> int:
        row = self.con.execute(
            f"SELECT COUNT(*) FROM impressions WHERE {self.where(split, filled_only=filled_only)}"
        ).fetchone()
        return int(row[0]) if row else 0

    def _select(self, split: Split, columns: Sequence[str], filled_only: bool, tail: str) -> str:
        cols = ", ".join(columns)
        where = self.where(split, filled_only=filled_only)
        return f"SELECT {cols} FROM impressions WHERE {where} {tail}"

    def table(
        self,
        split: Split,
        columns: Sequence[str] = TRAINING_COLUMNS,
        *,
        filled_only: bool = False,
        order_by_time: bool = False,
    ) -> pa.Table:
        """The rows of ``split`` as one Arrow table."""
        tail = "ORDER BY ts" if order_by_time else ""
        return self.con.execute(self._select(split, columns, filled_only, tail)).to_arrow_table()

    def sample(
        self,
        split: Split,
        rows: int,
        columns: Sequence[str] = TRAINING_COLUMNS,
        *,
        filled_only: bool = False,
        seed: int = 0,
    ) -> pa.Table:
        """At most ``rows`` rows of ``split``, a seeded uniform reservoir sample."""
        tail = f"USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})"
        return self.con.execute(self._select(split, columns, filled_only, tail)).to_arrow_table()

    def batches(
        self,
        split: Split,
        columns: Sequence[str] = TRAINING_COLUMNS,
        *,
        filled_only: bool = False,
        batch_rows: int = 500_000,
    ) -> Iterator[pa.RecordBatch]:
        """The rows of ``split`` as a stream of record batches (bounded memory)."""
        query = self._select(split, columns, filled_only, "")
        cursor = self.con.cursor()  # its own stream: other queries may run meanwhile
        try:
            yield from cursor.execute(query).to_arrow_reader(batch_rows)
        finally:
            cursor.close()

    def close(self) -> None:
        self.con.close()
