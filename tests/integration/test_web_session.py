"""Dashboard sessions: the signed cookie, and the server-side store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from ssmas.core.db import UnitOfWork, make_engine, make_session_factory, upgrade, utcnow
from ssmas.core.security import create_api_key, revoke_api_key
from ssmas.core.security.sessions import (
    end_key_sessions,
    end_session,
    find_session,
    purge_expired,
    start_session,
)
from ssmas.settings import Settings
from ssmas.web.session import issue_token, read_token

UowFactory = Callable[[], UnitOfWork]
SECRET = "token-test-secret"
SESSION_ID = "A" * 20 + "b" * 20 + "-_9"


def test_token_round_trip_gives_back_the_session_id() -> None:
    token = issue_token(SECRET, SESSION_ID)
    assert read_token(SECRET, token) == SESSION_ID


def test_altered_foreign_and_old_style_tokens_are_refused() -> None:
    token = issue_token(SECRET, SESSION_ID)
    version, session_id, signature = token.split(".")
    for candidate in [
        f"{version}.{session_id[:-1]}B.{signature}",
        f"{version}.{session_id}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        f"v1.{session_id}.{signature}",
        f"{token}.extra",
        # the old form: v1.<base64 prefix>.<expiry>.<hmac>, here for ten years under dev-secret
        "v1.YWJjZGVmZ2g.2080000000.0f" + "0" * 62,
    ]:
        assert read_token(SECRET, candidate) is None, candidate
    assert read_token("other-secret", token) is None


@pytest.mark.parametrize("junk", ["", "v2", "v2..", "v2.a.b", "ñ.ñ.ñ", "x" * 5000])
def test_junk_never_raises(junk: str) -> None:
    assert read_token(SECRET, junk) is None
    assert read_token(SECRET, None) is None


@pytest.mark.parametrize("bad", ["", "short", "has space" * 8, "x" * 200])
def test_a_session_id_must_be_random_looking(bad: str) -> None:
    with pytest.raises(ValueError):
        issue_token(SECRET, bad)


@pytest.fixture(params=["sqlite", "postgresql"])
def uow_factory(request: pytest.FixtureRequest, settings: Settings) -> Iterator[UowFactory]:
    url = (
        settings.resolved_database_url
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    yield lambda: UnitOfWork(factory)
    engine.dispose()


def _key(uow_factory: UowFactory, name: str = "sessions") -> tuple[int, str]:
    with uow_factory() as uow:
        _raw, record = create_api_key(uow.session, name, ["pricing:read"])
        uow.commit()
    return record.id, record.prefix


def test_a_session_lives_until_the_expiry_the_server_set(uow_factory: UowFactory) -> None:
    key_id, prefix = _key(uow_factory)
    start = utcnow()
    with uow_factory() as uow:
        session_id, expires_at = start_session(uow.session, key_id, ttl_s=60, now=start)
        uow.commit()
    assert expires_at == start + timedelta(seconds=60)
    with uow_factory() as uow:
        live = find_session(uow.session, session_id, now=start + timedelta(seconds=59))
        assert live is not None and live.key_prefix == prefix
        assert live.scopes == ("pricing:read",)
        assert find_session(uow.session, session_id, now=start + timedelta(seconds=60)) is None
        assert find_session(uow.session, session_id + "x", now=start) is None
        assert purge_expired(uow.session, now=start + timedelta(seconds=61)) == 1
        uow.commit()
    with uow_factory() as uow:
        assert find_session(uow.session, session_id, now=start) is None


def test_ending_one_session_leaves_the_others(uow_factory: UowFactory) -> None:
    key_id, _ = _key(uow_factory)
    with uow_factory() as uow:
        first, _ = start_session(uow.session, key_id, ttl_s=600)
        second, _ = start_session(uow.session, key_id, ttl_s=600)
        uow.commit()
    with uow_factory() as uow:
        assert end_session(uow.session, first)
        assert not end_session(uow.session, first)
        assert not end_session(uow.session, None)
        uow.commit()
    with uow_factory() as uow:
        assert find_session(uow.session, first) is None
        assert find_session(uow.session, second) is not None


def test_revoking_a_key_ends_all_its_sessions_and_only_its(uow_factory: UowFactory) -> None:
    key_id, prefix = _key(uow_factory, "revoked")
    other_id, _ = _key(uow_factory, "kept")
    with uow_factory() as uow:
        ids = [start_session(uow.session, key_id, ttl_s=600)[0] for _ in range(3)]
        kept, _ = start_session(uow.session, other_id, ttl_s=600)
        uow.commit()
    with uow_factory() as uow:
        assert revoke_api_key(uow.session, prefix)
        uow.commit()
    with uow_factory() as uow:
        assert all(find_session(uow.session, s) is None for s in ids)
        assert find_session(uow.session, kept) is not None
        assert end_key_sessions(uow.session, key_id) == 0  # already gone with the revocation


def test_without_a_secret_nothing_is_signed_or_accepted() -> None:
    with pytest.raises(ValueError):
        issue_token("", SESSION_ID)
    assert read_token("", issue_token(SECRET, SESSION_ID)) is None
