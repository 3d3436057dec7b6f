"""Bulk inserts (``ssmas.core.db.bulk``) store exactly what ``conn.execute(table.insert())`` does,
on SQLite and on the real PostgreSQL, and JSON columns go through the engine's serializer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ssmas.core.db import JsonType, UtcDateTime, make_engine
from ssmas.core.db.bulk import BulkInsert, bulk_insert
from ssmas.core.db.engine import json_dumps


def _table(meta: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("flag", sa.Boolean, nullable=False),
        sa.Column("payload", JsonType, nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("note", sa.String(32), nullable=False, server_default="none"),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bulk.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _rows() -> list[dict[str, Any]]:
    shared = datetime(2026, 3, 2, 10, 30, 0, 123456, tzinfo=UTC)
    paris = timezone(timedelta(hours=1))
    rows: list[dict[str, Any]] = [
        {
            "at": shared,  # one timestamp object shared by the batch
            "label": f"row-{i}",
            "flag": i % 2 == 0,
            "payload": {"i": i, "tags": ["a", "ñ"], "nested": {"x": 1.5}},
            "score": None if i == 3 else i / 7,
        }
        for i in range(6)
    ]
    rows[4]["at"] = datetime(2026, 3, 2, 12, 0, tzinfo=paris)  # stored as 11:00 UTC
    rows[5]["payload"] = None
    # A run with different keys: the server default fills "note" elsewhere.
    rows += [{"at": shared, "label": "noted", "flag": True, "note": "given"}]
    return rows


def _stored(engine: sa.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(sa.select(table).order_by(table.c.id))
        return [{k: v for k, v in r._mapping.items() if k != "id"} for r in found]


def test_bulk_insert_stores_what_sqlalchemy_insert_stores(engine: sa.Engine) -> None:
    meta = sa.MetaData()
    reference, bulk = _table(meta, "ref_rows"), _table(meta, "bulk_rows")
    meta.create_all(engine)
    rows = _rows()
    with engine.begin() as conn:
        for row in rows:  # one by one: rows with different keys are fine for execute
            conn.execute(reference.insert(), row)
        assert bulk_insert(conn, bulk, rows) == len(rows)
    expected, got = _stored(engine, reference), _stored(engine, bulk)
    assert got == expected
    assert got[4]["at"] == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert got[0]["payload"] == {"i": 0, "tags": ["a", "ñ"], "nested": {"x": 1.5}}
    assert got[-1]["note"] == "given" and got[0]["note"] == "none"
    meta.drop_all(engine)


def test_bulk_insert_refuses_what_the_column_types_refuse(engine: sa.Engine) -> None:
    meta = sa.MetaData()
    table = _table(meta, "strict_rows")
    meta.create_all(engine)
    naive = {"at": datetime(2026, 3, 2), "label": "x", "flag": True, "payload": None}
    with pytest.raises(ValueError, match="naive"), engine.begin() as conn:
        bulk_insert(conn, table, [naive])
    assert _stored(engine, table) == []  # the transaction rolled back
    meta.drop_all(engine)


def test_unknown_columns_are_refused_by_name() -> None:
    meta = sa.MetaData()
    table = _table(meta, "t")
    with pytest.raises(ValueError, match="no column"):
        BulkInsert(table, ["at", "colour"], make_engine("sqlite://").dialect)


def test_json_dumps_is_compact_and_falls_back_for_what_orjson_refuses() -> None:
    assert json_dumps({"a": [1, 2.5, None], "ñ": True}) == '{"a":[1,2.5,null],"ñ":true}'
    assert json.loads(json_dumps({1: "int key"})) == {"1": "int key"}
    huge = 2**70  # wider than orjson's 64-bit integers: json.dumps takes it
    assert json.loads(json_dumps({"n": huge})) == {"n": huge}
