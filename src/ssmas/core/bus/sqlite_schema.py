"""The SQLite bus's tables, and how its connections are opened (WAL, busy timeout).

``bus_messages`` holds every retained message under (topic, seq); ``bus_topics`` the last offset
handed out per topic, so offsets survive trimming; ``bus_groups`` each group's cursor (the highest
offset it was handed); ``bus_inflight`` one row per message a group holds but has not acked;
``bus_reservations`` the one consumer a group's topic is reserved for, if any (``reserve``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_topics (
    topic TEXT PRIMARY KEY,
    last_offset INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_messages (
    topic TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    key TEXT,
    payload TEXT NOT NULL,
    headers TEXT NOT NULL,
    published_us INTEGER NOT NULL,
    PRIMARY KEY (topic, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS bus_messages_key ON bus_messages (topic, key)
    WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS bus_messages_time ON bus_messages (topic, published_us);
CREATE TABLE IF NOT EXISTS bus_groups (
    topic TEXT NOT NULL,
    grp TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    PRIMARY KEY (topic, grp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_inflight (
    topic TEXT NOT NULL,
    grp TEXT NOT NULL,
    seq INTEGER NOT NULL,
    consumer TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    visible_us INTEGER NOT NULL,
    last_error TEXT,
    PRIMARY KEY (topic, grp, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bus_inflight_due ON bus_inflight (topic, grp, visible_us);
CREATE TABLE IF NOT EXISTS bus_reservations (
    topic TEXT NOT NULL,
    grp TEXT NOT NULL,
    consumer TEXT NOT NULL,
    PRIMARY KEY (topic, grp)
) WITHOUT ROWID;
"""


def connect(path: str | Path, busy_timeout_s: float) -> sqlite3.Connection:
    """An autocommit connection in WAL mode that waits for the file lock instead of failing."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    conn.execute("PRAGMA journal_mode = WAL")
    # Durable across process crashes (the case workers face); a power cut may lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` says the file's lock is held by another connection (SQLITE_BUSY)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_BUSY)
    return "locked" in str(exc) or "busy" in str(exc)


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the bus tables if missing (inside the caller's transaction)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
