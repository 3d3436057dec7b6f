"""Engine construction: SQLite pragmas and directories, URL normalisation, packaged migrations."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.core.db import (
    MIGRATIONS_DIR,
    current_revision,
    head_revision,
    make_engine,
    normalize_database_url,
    upgrade,
)


def test_sqlite_file_gets_wal_pragmas_and_its_directory(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "x.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        pragma = {
            name: conn.execute(sa.text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    engine.dispose()
    assert db.parent.is_dir()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 5000,
        "foreign_keys": 1,
    }


def test_sqlite_foreign_keys_are_enforced(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fk.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE p (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id))"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO c (id, p) VALUES (1, 99)"))
    engine.dispose()


def test_in_memory_sqlite_keeps_one_database_across_connections() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_postgres_urls_use_psycopg3(url: str, driver: str) -> None:
    parsed = normalize_database_url(url)
    assert parsed.drivername == driver
    assert parsed.database in ("db", "x.db")


@pytest.mark.postgres
def test_plain_postgresql_url_connects_with_psycopg(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(plain)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_core.py").is_file()
    assert MIGRATIONS_DIR.parent.name == "ssmas"


def test_upgrade_runs_from_another_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini here
    url = f"sqlite:///{tmp_path / 'cwd.db'}"
    assert current_revision(url) is None
    upgrade(url, "0001_core")
    assert current_revision(url) == "0001_core"


def test_concurrent_upgrades_of_a_fresh_sqlite_file_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(url)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(url) == head_revision()
