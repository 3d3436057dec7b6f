"""One healing journal for every host: ``ssmas up`` on two hosts (two data directories) against
one database (SQLite and PostgreSQL) write to it, any process reads both back, newest first and
naming the host; an action the database can't take goes to the host's file and is still read,
as are journals written to the file before the database kept them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.db import upgrade
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security import create_api_key
from ssmas.ops.healing.journal import HealingAction, HealingJournal, journal_for, journal_path
from ssmas.ops.healing.tables import HealingActionRow
from ssmas.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One database both hosts share (PostgreSQL: the session's, its journal rows cleared)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    url = request.getfixturevalue("pg_url")
    upgrade(url)
    clear = sa.delete(HealingActionRow.__table__)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(clear)
    yield url
    with engine.begin() as conn:
        conn.execute(clear)
    engine.dispose()


def host(tmp_path: Path, name: str, database_url: str) -> Platform:
    settings = Settings(profile="test", data_dir=tmp_path / name, database_url=database_url)
    settings.ensure_dirs()
    return build_platform(settings)


def test_two_hosts_write_one_journal_that_either_reads(tmp_path: Path, database_url: str) -> None:
    a, b = host(tmp_path, "a", database_url), host(tmp_path, "b", database_url)
    try:
        on_a = journal_for(a)
        on_a.host = "host-a"
        on_b = journal_for(b)
        on_b.host = "host-b"
        on_a.record(HealingAction.now("restart", "adops.rules", "ok", "exited -9", pid=41))
        on_b.record(HealingAction.now("open_breaker", "campaigns.sender", "ok", "crash loop"))
        on_a.record(HealingAction.now("scale_up", "assistant.text", "ok", "backlog 900"))
        for journal in (on_a, on_b):
            seen = journal.recent(10)
            assert [(x.host, x.action) for x in seen] == [
                ("host-a", "scale_up"),
                ("host-b", "open_breaker"),
                ("host-a", "restart"),
            ]
            assert seen[2].detail == {"pid": 41} and seen[2].at.endswith("+00:00")
        assert [x.action for x in on_b.recent(1)] == ["scale_up"]
        # nothing went to either host's file: the database took every action
        assert not journal_path(a.settings.data_dir).exists()
        assert not journal_path(b.settings.data_dir).exists()
    finally:
        a.close()
        b.close()


def test_the_file_keeps_what_the_database_cannot_take_and_old_journals_are_read(
    tmp_path: Path, database_url: str
) -> None:
    platform = host(tmp_path, "a", database_url)
    try:
        path = journal_path(platform.settings.data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        old = HealingAction("2026-01-02T03:04:05.000+00:00", "restart", "x.w", "ok", "old", {})
        line = {k: v for k, v in vars(old).items() if k != "host"}  # written before hosts
        path.write_text(json.dumps(line) + "\n", encoding="utf-8")
        journal = journal_for(platform)
        journal.record(HealingAction.now("alert", "x.w", "failed", "still crashing"))
        broken = HealingJournal(
            path,
            session_factory=sa.orm.sessionmaker(sa.create_engine("sqlite:///" + str(tmp_path))),
            host="host-a",
        )  # a database that can't be opened: the action goes to the host's file
        broken.record(HealingAction.now("shed_load", "adops", "ok", "queue full"))
        seen = journal.recent(10)
        assert [(x.action, x.host) for x in seen] == [
            ("shed_load", "host-a"),
            ("alert", journal.host),
            ("restart", ""),
        ]
        assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    finally:
        platform.close()


def test_the_api_of_one_host_lists_what_another_hosts_supervisor_did(
    tmp_path: Path, database_url: str
) -> None:
    other = host(tmp_path, "b", database_url)
    try:
        journal = journal_for(other)
        journal.host = "host-b"
        journal.record(HealingAction.now("restart", "pricing.scorer", "ok", "exited 1", pid=9))
    finally:
        other.close()
    settings = Settings(profile="test", data_dir=tmp_path / "a", database_url=database_url)
    settings.ensure_dirs()
    with TestClient(create_app(settings=settings)) as client:
        platform = client.app.state.platform  # type: ignore[attr-defined]
        with platform.uow() as uow:
            key, _ = create_api_key(uow.session, "reader", ["ops:read"])
            uow.commit()
        body = client.get("/ops/healing", headers={"Authorization": f"Bearer {key}"}).json()
    assert [(x["host"], x["worker"], x["detail"]) for x in body["actions"]] == [
        ("host-b", "pricing.scorer", {"pid": 9})
    ]
