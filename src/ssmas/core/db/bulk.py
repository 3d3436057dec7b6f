"""Bulk inserts for background writers: one compiled statement, executemany, little Python per row.

``conn.execute(table.insert(), rows)`` is the right call almost everywhere, but SQLAlchemy
prepares every parameter of every row on its own (~14 µs a row for a ten-column row with a JSON
column on SQLite). A writer thread inside a latency-sensitive server spends that time holding
the GIL, which the requests then wait for. :class:`BulkInsert` keeps what SQLAlchemy does for
correctness and drops the rest:

* the statement is compiled once per table, column set and dialect (``inline``: no RETURNING of
  generated keys, nobody reads them);
* values go through the column types' own bind processors (the same functions
  ``Connection.execute`` would call: UTC timestamps, JSON, booleans, dialect casts), column by
  column, and a value repeated by identity (the one timestamp of a batch) is converted once;
* the rows go to the driver's ``executemany`` in one call per chunk.

Used by the pricing capture writer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

__all__ = ["BulkInsert", "bulk_insert"]

Processor = Callable[[Any], Any] | None


class BulkInsert:
    """``INSERT INTO table (columns...)`` compiled for ``dialect``, fed with plain row dicts."""

    def __init__(self, table: sa.Table, columns: Sequence[str], dialect: Dialect) -> None:
        unknown = [c for c in columns if c not in table.c]
        if unknown:
            raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
        compiled = sa.insert(table).inline().compile(dialect=dialect, column_keys=list(columns))
        self.sql = str(compiled)
        self.positional = bool(dialect.positional)
        # The driver's parameter order (positional styles) or names (named styles).
        self.order: list[str] = list(compiled.positiontup or columns)
        self._processors: dict[str, Processor] = {
            name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.order
        }

    def parameters(self, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """The driver's parameter sets for ``rows``: tuples (positional) or dicts (named)."""
        columns = [self._column(name, rows) for name in self.order]
        if self.positional:
            return list(zip(*columns, strict=True))
        return [dict(zip(self.order, values, strict=True)) for values in zip(*columns, strict=True)]

    def _column(self, name: str, rows: Sequence[dict[str, Any]]) -> list[Any]:
        values = [row[name] for row in rows]
        process = self._processors[name]
        if process is None:
            return values
        out = []
        last_in: Any = object()
        last_out: Any = None
        for value in values:
            if value is not last_in:  # a batch's shared timestamp: converted once
                last_in, last_out = value, process(value)
            out.append(last_out)
        return out

    def execute(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
        """Insert ``rows`` (in ``conn``'s transaction); returns the count."""
        if rows:
            conn.exec_driver_sql(self.sql, self.parameters(rows))
        return len(rows)


@functools.lru_cache(maxsize=128)
def _compiled(table: sa.Table, columns: tuple[str, ...], dialect: Dialect) -> BulkInsert:
    return BulkInsert(table, columns, dialect)


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` with cached :class:`BulkInsert` statements, one per run of rows that
    carry the same keys (columns left out take their defaults, as with ``table.insert()``)."""
    start = 0
    while start < len(rows):
        keys = tuple(rows[start])
        end = start + 1
        while end < len(rows) and tuple(rows[end]) == keys:
            end += 1
        _compiled(table, keys, conn.dialect).execute(conn, rows[start:end])
        start = end
    return len(rows)
