"""Engine and session construction: SQLite tuned for concurrent readers, PostgreSQL via psycopg 3.

Nothing here runs at import time; every process builds its engine in its composition root.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 5


def normalize_database_url(url: str) -> URL:
    """Parse ``url``; plain ``postgresql://`` / ``postgres://`` get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or (url.query.get("mode") == "memory")


def json_dumps(value: Any) -> str:
    """JSON columns' serializer: ``orjson`` (several times faster than ``json.dumps``, and
    compact), falling back to ``json.dumps`` for what ``orjson`` refuses (e.g. integers wider
    than 64 bits), so anything storable before still is."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def _sqlite_pragmas(memory: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return on_connect


def make_engine(url: str) -> Engine:
    """An engine for ``url``; connects lazily, on first use.

    SQLite: WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys on every connection, and
    the database's parent directory is created. In-memory SQLite shares one connection.
    PostgreSQL: psycopg 3, pre-ping, a short connect timeout so a dead server fails fast.
    JSON columns are written with :func:`json_dumps` on both.
    """
    parsed = normalize_database_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        memory = _is_memory_sqlite(parsed)
        kwargs: dict[str, Any] = {"json_serializer": json_dumps}
        if memory:
            kwargs |= {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        elif parsed.database and not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas(memory))
        return engine
    if backend == "postgresql":
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
            json_serializer=json_dumps,
        )
    return sa.create_engine(parsed)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
