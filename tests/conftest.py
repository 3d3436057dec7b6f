"""Shared fixtures: isolated settings per test, and the real PostgreSQL and Redis of this machine.

PostgreSQL tests get a fresh database per test session (dropped at the end); Redis tests use
database 15 and flush it around each test. When a server is down the test fails with the
command that starts it, rather than silently skipping real-backend coverage.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssmas.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "SSMAS_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_TEST_URL = os.environ.get("SSMAS_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Embedded-default settings rooted in a temporary data directory."""
    s = Settings(profile="test", data_dir=tmp_path / "data")
    s.ensure_dirs()
    return s


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a throw-away PostgreSQL database on the local server."""
    import sqlalchemy as sa

    name = f"ssmas_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported clearly
        pytest.fail(
            f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}. Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture()
def redis_url() -> Iterator[str]:
    """URL of Redis database 15, flushed before and after the test."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.flushdb()
    except Exception as exc:  # pragma: no cover - environment problem, reported clearly
        pytest.fail(
            f"Redis not reachable at {REDIS_TEST_URL}: {exc}. Start it with `redis-server "
            '--daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`'
        )
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()
