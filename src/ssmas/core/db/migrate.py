"""Schema migrations, run programmatically from the Alembic scripts shipped inside the package.

``upgrade(url)`` is idempotent and safe to call from several processes at once: PostgreSQL
serialises it with an advisory lock, SQLite files with an exclusive file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from ssmas.core.db.engine import _is_memory_sqlite, make_engine, normalize_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Arbitrary constant identifying "ssmas schema migration" among PostgreSQL advisory locks.
PG_MIGRATION_LOCK_ID = 0x55_4D_41_53


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # Kept out of the ini options so a '%' in a password needs no escaping.
        config.attributes["url"] = url
    return config


def head_revision() -> str | None:
    """The newest revision among the shipped migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextlib.contextmanager
def _sqlite_file_lock(url: URL) -> Iterator[None]:
    if url.get_backend_name() != "sqlite" or _is_memory_sqlite(url) or not url.database:
        yield
        return
    lock_path = Path(url.database).expanduser().with_name(Path(url.database).name + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``; a no-op when it is already there."""
    parsed = normalize_database_url(url)
    engine = make_engine(url)
    try:
        with _sqlite_file_lock(parsed), engine.begin() as connection:
            if parsed.get_backend_name() == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_ID}
                )
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None before the first upgrade)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    return ",".join(sorted(heads)) if heads else None
