"""What every auction-log importer shares: the lake columns it fills, rejected rows with their
reasons, and writing the kept rows into the lake's hour partitions.

Real logs carry a subset of what the simulated exchange writes, so an imported lake has every
column the lake readers select (absent ones are null) plus ``ad_exchange`` and ``source_row``
(the line number, so file order survives the partitioning). ``labels/import.json`` records the
format, the currency and which columns the log actually filled; training reads it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ssmas.exchange import LAKE_IMPRESSIONS, country_tier

IMPORT_MARKER = "labels/import.json"
MAX_REJECTIONS_KEPT = 1000
Progress = Callable[[int], None]

IMPORT_SCHEMA = pa.schema(
    [
        ("impression_id", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("hour_of_day", pa.int8()),
        ("day_of_week", pa.int8()),
        ("publisher_id", pa.string()),
        ("domain", pa.string()),
        ("ad_unit_id", pa.string()),
        ("format", pa.string()),
        ("ad_size", pa.string()),
        ("inventory_type", pa.string()),
        ("auction_type", pa.string()),
        ("country", pa.string()),
        ("country_tier", pa.int8()),
        ("device_category", pa.string()),
        ("user_engagement_score", pa.float32()),
        ("device_performance_score", pa.float32()),
        ("historical_ctr_avg", pa.float32()),
        ("status", pa.string()),
        ("floor_cpm", pa.float32()),
        ("top_bid_cpm", pa.float32()),
        ("second_bid_cpm", pa.float32()),
        ("bidder", pa.string()),
        ("demand_channel", pa.string()),
        ("clearing_cpm", pa.float32()),
        ("filled", pa.bool_()),
        ("ad_exchange", pa.string()),
        ("clicked", pa.bool_()),
        ("source_row", pa.int64()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(IMPORT_SCHEMA.names)
# Columns every importer fills itself (bookkeeping, not information the log carries).
BOOKKEEPING = frozenset({"impression_id", "ts", "status", "filled", "source_row"})

# OpenRTB sends ISO-3166-1 alpha-3 countries; the tiers are defined on two-letter codes.
ALPHA3 = {"ESP": "ES", "FRA": "FR", "DEU": "DE", "ITA": "IT", "GBR": "UK", "USA": "US",
          "PRT": "PT", "NLD": "NL", "BEL": "BE", "CHE": "CH", "AUT": "AT", "SWE": "SE",
          "MEX": "MX", "ARG": "AR", "COL": "CO", "CHL": "CL", "PER": "PE", "BRA": "BR",
          "MAR": "MA", "POL": "PL", "ROU": "RO", "IND": "IN", "CHN": "CN"}  # fmt: skip


class LogImportError(ValueError):
    """The file cannot be imported at all (missing, unreadable, nothing kept, lake not empty)."""


@dataclass
class Rejection:
    line: int
    reason: str


@dataclass
class ImportReport:
    """Rows read, kept and rejected (with reasons), and which lake columns the log filled."""

    format: str
    rows_read: int = 0
    rows_kept: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    filled_columns: list[str] = field(default_factory=list)
    currency: str | None = None
    synthetic_time: bool = False

    def reject(self, line: int, reason: str) -> None:
        self.reasons[reason.split(":")[0]] += 1
        if len(self.rejected) < MAX_REJECTIONS_KEPT:
            self.rejected.append(Rejection(line, reason))

    def same_currency(self, line: int, currency: str) -> bool:
        """The first priced row sets the log's currency; a row in another one is rejected."""
        if self.currency is None:
            self.currency = currency
        if currency != self.currency:
            self.reject(line, f"other currency: {currency}, the log's is {self.currency}")
            return False
        return True

    @property
    def rows_rejected(self) -> int:
        return sum(self.reasons.values())

    @property
    def missing_columns(self) -> list[str]:
        return [c for c in COLUMNS if c not in self.filled_columns and c not in BOOKKEEPING]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_rejected": self.rows_rejected,
            "rejections_by_reason": dict(self.reasons),
            "rejected_sample": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "filled_columns": self.filled_columns,
            "missing_columns": self.missing_columns,
            "currency": self.currency,
            "synthetic_time": self.synthetic_time,
        }


class Rows:
    """Column lists for :data:`IMPORT_SCHEMA`, one row appended at a time."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        self.n = 0

    def add(self, values: dict[str, Any]) -> None:
        for name, column in self.columns.items():
            column.append(values.get(name))
        self.n += 1

    def table(self) -> pa.Table:
        return pa.table({n: pa.array(v, IMPORT_SCHEMA.field(n).type)
                         for n, v in self.columns.items()})  # fmt: skip


def calendar(ts: datetime) -> dict[str, Any]:
    """``ts`` with the hour and ISO day of week derived from it."""
    return {"ts": ts, "hour_of_day": ts.hour, "day_of_week": ts.isoweekday()}


def geo(country: Any) -> dict[str, Any]:
    """Country (two or three letters) and its tier; nothing when absent."""
    if not isinstance(country, str) or not country:
        return {}
    code = ALPHA3.get(country.upper(), country.upper()[:2])
    return {"country": code, "country_tier": country_tier(code)}


def parse_time(value: Any) -> datetime | None:
    """Epoch seconds or milliseconds, or ISO 8601; None when absent or unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def read_lines(path: Path, progress: Progress | None = None) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without the newline) of a UTF-8 file; ``progress`` gets bytes."""
    if not path.is_file():
        raise LogImportError(f"no such file: {path}")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if progress is not None:
                progress(len(raw))
            yield number, raw.decode("utf-8", errors="replace").rstrip("\r\n")


def finish(rows: Rows, report: ImportReport) -> pa.Table:
    """The kept rows as a table; records which columns the log filled."""
    table = rows.table()
    report.rows_kept = table.num_rows
    report.filled_columns = [
        c for c in COLUMNS if c not in BOOKKEEPING and table.column(c).null_count < table.num_rows
    ] if table.num_rows else []  # fmt: skip
    return table


def write_lake(table: pa.Table, report: ImportReport, lake: Path, source: Path) -> list[Path]:
    """Write the rows into ``lake`` as hour partitions (the exchange's layout) and the marker.

    Refuses a lake that already holds impressions: an import is one log, one lake."""
    from ssmas.exchange import lake_hour_dir as hour_dir
    from ssmas.exchange import lake_writer_options as writer_options

    if (lake / LAKE_IMPRESSIONS).exists() and any((lake / LAKE_IMPRESSIONS).rglob("*.parquet")):
        raise LogImportError(f"the lake at {lake} already holds impressions: import into a new DIR")
    if table.num_rows == 0:
        raise LogImportError(f"no row of {source} could be imported")
    hours = pc.floor_temporal(table.column("ts"), unit="hour")
    table = table.append_column("_hour", hours)
    written = []
    for start in pc.unique(hours).to_pylist():
        part = table.filter(pc.equal(table.column("_hour"), start)).drop_columns(["_hour"])
        path = hour_dir(lake, LAKE_IMPRESSIONS, start) / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, path, **writer_options(part.schema))
        written.append(path)
    marker = lake / IMPORT_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    body = {"source": str(source), **report.to_dict()}
    marker.write_text(json.dumps(body, indent=2) + "\n")
    return written


def read_marker(lake: Path) -> dict[str, Any] | None:
    """The import record of an imported lake; None for a simulated one."""
    path = lake / IMPORT_MARKER
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def lines_of(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Skips blank lines (they are not rows, so not rejections)."""
    return ((n, text) for n, text in lines if text.strip())


def read_imported_lake(lake: Path) -> pa.Table:
    """Every auctioned row of an imported lake, in source order."""
    import duckdb

    files = sorted((lake / LAKE_IMPRESSIONS).rglob("*.parquet"))
    if not files:
        raise LogImportError(f"no impressions in the lake at {lake}")
    listing = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        query = (
            f"SELECT * FROM read_parquet([{listing}], hive_partitioning = false, "
            "union_by_name = true) WHERE status = 'ok' ORDER BY source_row"
        )
        return con.execute(query).to_arrow_table()
    finally:
        con.close()


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (absent fields read as None)."""
    return value if isinstance(value, dict) else {}


def json_records(
    lines: Iterable[tuple[int, str]], report: ImportReport
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of a JSON-lines log; other lines are counted and rejected."""
    for number, text in lines_of(lines):
        report.rows_read += 1
        try:
            record = json.loads(text)
        except ValueError:
            report.reject(number, "malformed line: not JSON")
            continue
        if not isinstance(record, dict):
            report.reject(number, "malformed line: not a JSON object")
            continue
        yield number, record
