"""A key revoked by one process is refused by another at once: the revocation goes on the bus.

The API process below trusts a verified key for an hour (``api_key_cache_s=3600``), so only the
announcement can make it refuse the key within the test; ``ssmas keys revoke`` (the CLI, with
its own database engine and bus connection) is the other process. Run on the embedded default
(SQLite database and bus) and on PostgreSQL with the Redis Streams bus.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.bootstrap import create_app
from ssmas.cli import app as cli
from ssmas.core.api.auth import KeyVerifier
from ssmas.core.db import utcnow
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security import ApiKeyRecord, create_api_key
from ssmas.core.security.revocation import (
    LOOKBACK,
    TOPIC,
    RevocationListener,
    announce_revocation,
)
from ssmas.core.worker import wait_until
from ssmas.settings import Settings, use_settings

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgres-redis"])
def platform_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    update: dict[str, object] = {"api_key_cache_s": 3600.0}
    if request.param == "postgres-redis":
        update |= {
            "database_url": request.getfixturevalue("pg_url"),
            "redis_url": request.getfixturevalue("redis_url"),
            "bus_backend": "redis",
        }
    return settings.model_copy(update=update)


@pytest.fixture()
def platform(platform_settings: Settings) -> Iterator[Platform]:
    built = build_platform(platform_settings)
    yield built
    built.close()


def _new_key(platform: Platform, name: str) -> str:
    with platform.uow() as uow:
        raw, _record = create_api_key(uow.session, name, ["*"])
        uow.commit()
    return raw


def test_a_key_revoked_by_the_cli_is_refused_by_the_api_process_at_once(
    platform: Platform,
) -> None:
    revoked, kept = _new_key(platform, "leaving"), _new_key(platform, "staying")
    with TestClient(create_app(platform)) as client:

        def status(key: str) -> int:
            return client.get("/v1/ping", headers={"X-API-Key": key}).status_code

        assert status(revoked) == 200 and status(kept) == 200  # both now in the cache
        with use_settings(platform.settings):
            result = runner.invoke(cli, ["keys", "revoke", revoked.split("_")[1]])
        assert result.exit_code == 0, result.output
        assert "warning" not in result.output
        assert wait_until(lambda: status(revoked) == 401, 10.0)
        assert status(kept) == 200
    assert [m.payload["prefix"] for m in platform.bus.replay(TOPIC)] == [revoked.split("_")[1]]


def test_the_revocation_holds_in_the_database_when_the_bus_is_down(settings: Settings) -> None:
    built = build_platform(settings)
    try:
        raw = _new_key(built, "unannounced")
    finally:
        built.close()
    dead_bus = settings.model_copy(
        update={"bus_backend": "redis", "redis_url": "redis://127.0.0.1:1/0"}
    )
    with use_settings(dead_bus):
        result = runner.invoke(cli, ["keys", "revoke", raw.split("_")[1]])
    assert result.exit_code == 0, result.output
    assert "warning: could not announce the revocation" in result.output
    with use_settings(settings):
        listed = runner.invoke(cli, ["keys", "list"], env={"COLUMNS": "200"})
    assert "revoked" in listed.output


def _record(prefix: str) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=1, name="n", prefix=prefix, scopes=["*"], created_at=utcnow(), revoked=False
    )


def test_a_database_read_racing_the_announcement_does_not_bring_the_key_back() -> None:
    verifier = KeyVerifier(None, ttl_s=3600)  # type: ignore[arg-type]
    assert verifier._store("digest-a", _record("abcdefgh")) is not None
    assert verifier.forget_prefix("abcdefgh") == 1
    # a verification that read the row before the revocation committed, and stores after it
    assert verifier._store("digest-b", _record("abcdefgh")) is None
    assert verifier._store("digest-c", _record("zzzzzzzz")) is not None


def test_the_listener_applies_each_announcement_once_from_just_before_it_started(
    platform: Platform,
) -> None:
    seen: list[str] = []
    announce_revocation(platform.bus, "before00")
    listener = RevocationListener(platform.bus, seen.append)
    assert listener.poll() == 1  # published a moment before the listener started: applied
    announce_revocation(platform.bus, "after000")
    platform.bus.publish(TOPIC, {"not": "a revocation"})
    assert listener.poll() == 1
    assert listener.poll() == 0
    assert seen == ["before00", "after000"]
    later = RevocationListener(platform.bus, seen.append, clock=lambda: utcnow() + LOOKBACK * 2)
    assert later.poll() == 0  # old history is not replayed into a process started long after
