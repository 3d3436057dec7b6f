"""Core tables on real SQLite and real PostgreSQL: migrations, keys, unit of work, audit log.

The PostgreSQL database is shared by the whole test session, so every test uses its own
names and never assumes the tables are empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.db import (
    ApiKey,
    ApiKeyRepository,
    UnitOfWork,
    current_revision,
    head_revision,
    make_engine,
    make_session_factory,
    upgrade,
)
from ssmas.core.security import (
    create_api_key,
    has_scope,
    list_api_keys,
    list_audit,
    record_audit,
    revoke_api_key,
    verify_api_key,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'x.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    upgrade(url)
    return url


@pytest.fixture()
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def test_upgrade_is_idempotent_and_reaches_head(db_url: str) -> None:
    head = head_revision()
    assert head is not None
    assert current_revision(db_url) == head
    upgrade(db_url)
    upgrade(db_url)
    assert current_revision(db_url) == head
    engine = make_engine(db_url)
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {"api_keys", "audit_log", "alembic_version"} <= tables


def test_created_key_verifies_and_carries_its_scopes(factory: sessionmaker[Session]) -> None:
    name = unique("pricing-bot")
    with UnitOfWork(factory) as uow:
        raw, created = create_api_key(uow.session, name, ["pricing:read", "assistant:write"])
        uow.commit()
    assert raw.startswith(f"ssmas_{created.prefix}_") and len(raw.split("_", 2)[2]) >= 32
    with UnitOfWork(factory) as uow:
        found = verify_api_key(uow.session, raw)
        stored = uow.api_keys.get_by_prefix(created.prefix)
    assert found is not None and found.id == created.id and found.name == name
    assert found.scopes == ["pricing:read", "assistant:write"]
    assert has_scope(found, "pricing:read") and not has_scope(found, "pricing:write")
    assert found.created_at.tzinfo is not None
    assert stored is not None and raw.split("_", 2)[2] not in stored.secret_hash
    assert len(stored.secret_hash) == 64


def test_verify_refuses_wrong_unknown_and_malformed_keys(factory: sessionmaker[Session]) -> None:
    with UnitOfWork(factory) as uow:
        raw, created = create_api_key(uow.session, unique("k"), ["admin"])
        uow.commit()
    secret = raw.split("_", 2)[2]
    wrong_secret = f"ssmas_{created.prefix}_{'A' * len(secret)}"
    unknown_prefix = f"ssmas_zzzzzzz9_{secret}"
    with UnitOfWork(factory) as uow:
        for bad in (wrong_secret, unknown_prefix, raw[:-1] + "!", "", None, created.prefix):
            assert verify_api_key(uow.session, bad) is None, bad


def test_revoked_key_stops_verifying(factory: sessionmaker[Session]) -> None:
    with UnitOfWork(factory) as uow:
        raw, created = create_api_key(uow.session, unique("k"), ["*"])
        uow.commit()
    with UnitOfWork(factory) as uow:
        assert revoke_api_key(uow.session, created.prefix) is True
        assert revoke_api_key(uow.session, "nosuch00") is False
        uow.commit()
    with UnitOfWork(factory) as uow:
        assert verify_api_key(uow.session, raw) is None
        listed = {r.prefix: r for r in list_api_keys(uow.session)}
        active = {r.prefix for r in list_api_keys(uow.session, include_revoked=False)}
    assert listed[created.prefix].revoked
    assert created.prefix not in active


def test_touch_records_last_use_at_most_once_a_minute(factory: sessionmaker[Session]) -> None:
    t0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    with UnitOfWork(factory) as uow:
        raw, _ = create_api_key(uow.session, unique("k"), ["admin"], now=t0)
        uow.commit()
    with UnitOfWork(factory) as uow:
        assert verify_api_key(uow.session, raw) is not None  # read-only by default
        uow.commit()
    with UnitOfWork(factory) as uow:
        record = verify_api_key(uow.session, raw)
        assert record is not None and record.last_used_at is None
        verify_api_key(uow.session, raw, touch=True, now=t0 + timedelta(seconds=5))
        record = verify_api_key(uow.session, raw, touch=True, now=t0 + timedelta(seconds=10))
        uow.commit()
    assert record is not None and record.last_used_at == t0 + timedelta(seconds=5)
    with UnitOfWork(factory) as uow:
        later = verify_api_key(uow.session, raw, touch=True, now=t0 + timedelta(minutes=3))
        uow.commit()
    assert later is not None and later.last_used_at == t0 + timedelta(minutes=3)


def test_unit_of_work_rolls_back_unless_committed(factory: sessionmaker[Session]) -> None:
    forgotten, failed, kept = unique("forgotten"), unique("failed"), unique("kept")
    with UnitOfWork(factory) as uow:
        create_api_key(uow.session, forgotten, ["admin"])
    with pytest.raises(RuntimeError), UnitOfWork(factory) as uow:
        create_api_key(uow.session, failed, ["admin"])
        raise RuntimeError("boom")
    with UnitOfWork(factory) as uow:
        create_api_key(uow.session, kept, ["admin"])
        uow.commit()
        create_api_key(uow.session, unique("after-commit"), ["admin"])
    with UnitOfWork(factory) as uow:
        names = {r.name for r in list_api_keys(uow.session)}
    assert kept in names
    assert forgotten not in names and failed not in names
    assert not any(n.startswith("after-commit") for n in names)


def test_unit_of_work_accepts_an_engine(db_url: str) -> None:
    engine = make_engine(db_url)
    name = unique("via-engine")
    with UnitOfWork(engine) as uow:
        create_api_key(uow.session, name, ["admin"])
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert name in {r.name for r in list_api_keys(uow.session)}
    engine.dispose()


def test_prefix_is_unique_in_the_schema(factory: sessionmaker[Session]) -> None:
    prefix = uuid.uuid4().hex[:8]
    with UnitOfWork(factory) as uow:
        repo = ApiKeyRepository(uow.session)
        repo.add(ApiKey(name="a", prefix=prefix, secret_hash="0" * 64, scopes=["admin"]))
        with pytest.raises(sa.exc.IntegrityError):
            repo.add(ApiKey(name="b", prefix=prefix, secret_hash="1" * 64, scopes=["admin"]))


def test_audit_records_are_listed_newest_first(factory: sessionmaker[Session]) -> None:
    actor = unique("alice")
    base = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1000)
    with UnitOfWork(factory) as uow:
        first = record_audit(uow.session, actor=actor, action="test.first", target="t1", at=base)
        second = record_audit(
            uow.session,
            actor=actor,
            action="test.second",
            target="t2",
            details={"scopes": ["admin"], "n": 2},
            at=base + timedelta(seconds=1),
        )
        uow.commit()
    with UnitOfWork(factory) as uow:
        entries = [e for e in list_audit(uow.session, limit=1000) if e.actor == actor]
        only_second = list_audit(uow.session, limit=5, action="test.second")
    assert [e.id for e in entries] == [second.id, first.id]
    assert entries[0].details == {"scopes": ["admin"], "n": 2}
    assert entries[1].details == {}
    assert entries[0].at == base + timedelta(seconds=1)
    assert second.id in {e.id for e in only_second}
    assert all(e.action == "test.second" for e in only_second)


def test_naive_datetimes_are_refused(factory: sessionmaker[Session]) -> None:
    with UnitOfWork(factory) as uow, pytest.raises(sa.exc.StatementError, match="naive"):
        record_audit(uow.session, actor="a", action="x", target="y", at=datetime(2025, 1, 1))
