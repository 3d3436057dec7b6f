"""Which brain every worker serves: the row a worker keeps, ``GET /assistant/brain`` and
``ssmas assistant brain-status``.

A worker's pipeline (``open_channel``: the real text pipeline, webhook and Graph fake; the
brain a ``HotBrain`` around the scripted one) runs with a ``BrainReloader`` on its own thread,
as ``workers.run`` starts it: the row appears when the brain starts serving, a reloaded
knowledge base makes the route say ``converged: false`` until the pipeline's next round swaps
and the reloader's thread records it. Stale rows, the champion comparison, failed writes and
the CLI's exit codes run on SQLite with an injected clock; the migration matches the table on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.assistant.brain_reload import BrainReloader, BrainVersion, HotBrain
from ssmas.assistant.brain_served import STALE_AFTER_S, ServedRecord, brain_status
from ssmas.assistant.commands import assistant_app
from ssmas.assistant.kb import load_files
from ssmas.assistant.tables import BrainServed
from ssmas.bootstrap import create_app
from ssmas.core.db import make_engine, upgrade
from ssmas.core.platform import Platform, build_platform
from ssmas.core.registry.model_version import ModelVersionInfo
from ssmas.core.security import create_api_key
from ssmas.core.worker import wait_until
from ssmas.settings import Settings, use_settings
from tests.integration.assistant_channel_support import ScriptedBrain, open_channel, text_delivery
from tests.integration.assistant_fixtures import deliver

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeRegistry:
    champion: int | None

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        if self.champion is None:
            return None
        return ModelVersionInfo(
            name=name, version=self.champion, aliases=[alias], run_id="r", created_at=T0
        )


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    opened = build_platform(settings)
    yield opened
    opened.close()


def _rows(platform: Platform) -> dict[str, BrainServed]:
    with platform.uow() as uow:
        return {r.name: r for r in uow.session.scalars(sa.select(BrainServed)).all()}


def _doc(tmp_path: Path) -> Path:
    doc = tmp_path / "guide.md"
    doc.write_text("# Guide\n\n## Payouts\n\nPayouts go out on the 25th of each month.\n")
    return doc


def test_a_swap_in_the_pipeline_is_recorded_and_the_route_converges(
    settings: Settings, tmp_path: Path
) -> None:
    hot = HotBrain(ScriptedBrain(), BrainVersion(1, 0))
    with open_channel(settings, brain=hot) as channel:
        record = ServedRecord(channel.platform.session_factory, name="worker-a")
        reloader = BrainReloader(
            hot,
            settings,
            registry=FakeRegistry(1),  # type: ignore[arg-type]
            build=lambda s, nlu, kb: ScriptedBrain(),  # type: ignore[arg-type,return-value]
            served=record,
        )
        stop = threading.Event()
        thread = reloader.start(stop, channel.platform.bus)
        try:
            with TestClient(create_app(channel.platform)) as client:
                with channel.platform.uow() as uow:
                    key, _ = create_api_key(uow.session, "ops", ["assistant:read"])
                    uow.commit()
                headers = {"x-api-key": key}
                assert wait_until(lambda: "worker-a" in _rows(channel.platform), 10.0)
                first = client.get("/assistant/brain", headers=headers).json()
                assert first["converged"] is True and first["kb_version"] == 0
                assert first["champion_nlu_version"] is None  # no registry in this data dir
                (worker,) = first["workers"]
                assert (worker["nlu_version"], worker["kb_version"]) == (1, 0)
                assert worker["pid"] > 0 and not worker["stale"] and worker["current"]

                report = load_files(settings, [_doc(tmp_path)], encoder=None)
                behind = client.get("/assistant/brain", headers=headers).json()
                assert behind["kb_version"] == report.version == 1
                assert behind["converged"] is False and not behind["workers"][0]["current"]

                reloader.refresh()  # what the knowledge event or the 30 s check does
                assert hot.next_version == BrainVersion(1, 1)
                assert _rows(channel.platform)["worker-a"].kb_version == 0  # offered, not served
                deliver(client, text_delivery("34600000001", "hola", "wamid.brain.1"))
                channel.drain()  # the round's prepare() swaps
                assert hot.version == BrainVersion(1, 1)
                assert wait_until(lambda: _rows(channel.platform)["worker-a"].kb_version == 1, 10.0)
                after = client.get("/assistant/brain", headers=headers).json()
                assert after["converged"] is True
                assert after["workers"][0]["since"] > worker["since"]
                assert client.get("/assistant/brain").status_code == 401
        finally:
            stop.set()
            thread.join(timeout=10)


def test_the_reloader_thread_refreshes_seen_at(
    settings: Settings, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ssmas.assistant import brain_reload

    monkeypatch.setattr(brain_reload, "CHECK_EVERY_S", 0.3)
    clock = Clock()
    hot = HotBrain(ScriptedBrain(), BrainVersion(1, 0))
    record = ServedRecord(platform.session_factory, name="beating", clock=clock)
    registry: Any = FakeRegistry(1)
    reloader = BrainReloader(hot, settings, registry=registry, served=record)
    stop = threading.Event()
    thread = reloader.start(stop, platform.bus)
    try:
        assert wait_until(lambda: "beating" in _rows(platform), 10.0)
        clock.at = T0 + timedelta(seconds=45)
        assert wait_until(lambda: _rows(platform)["beating"].seen_at == clock.at, 10.0)
        assert _rows(platform)["beating"].since == T0  # the same brain since it started
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_stale_workers_and_the_champion(settings: Settings, platform: Platform) -> None:
    clock = Clock()
    old = ServedRecord(platform.session_factory, name="old", clock=clock)
    old.serving(BrainVersion(1, 0))
    assert old.flush()
    clock.at = T0 + timedelta(seconds=60)
    new = ServedRecord(platform.session_factory, name="new", clock=clock)
    new.serving(BrainVersion(2, 0))
    assert new.flush()
    registry: Any = FakeRegistry(2)

    status = brain_status(platform.session_factory, settings, now=clock.at, registry=registry)
    by_name = {w["name"]: w for w in status["workers"]}
    assert status["champion_nlu_version"] == 2
    assert not by_name["old"]["stale"] and not by_name["old"]["current"]
    assert by_name["new"]["current"]
    assert status["converged"] is False  # "old" is alive and behind

    later = T0 + timedelta(seconds=STALE_AFTER_S + 1)  # "old" missed three heartbeats
    status = brain_status(platform.session_factory, settings, now=later, registry=registry)
    by_name = {w["name"]: w for w in status["workers"]}
    assert by_name["old"]["stale"] and not by_name["new"]["stale"]
    assert status["converged"] is True  # every live worker is current

    gone = T0 + timedelta(seconds=60 + STALE_AFTER_S + 1)
    status = brain_status(platform.session_factory, settings, now=gone, registry=registry)
    assert status["converged"] is False  # no worker alive: nothing serves the champion


def test_a_heartbeat_keeps_since_and_a_new_version_moves_it(platform: Platform) -> None:
    clock = Clock()
    record = ServedRecord(platform.session_factory, name="w", clock=clock)
    assert not record.flush(heartbeat=True)  # nothing served yet: nothing to write
    record.serving(BrainVersion(None, 3))
    assert record.flush()
    assert not record.flush()  # unchanged: only a heartbeat writes again
    clock.at = T0 + timedelta(seconds=30)
    record.serving(BrainVersion(None, 3))  # the same version again
    assert record.flush(heartbeat=True)
    row = _rows(platform)["w"]
    assert (row.nlu_version, row.kb_version) == (None, 3)
    assert (row.since, row.seen_at) == (T0, T0 + timedelta(seconds=30))
    clock.at = T0 + timedelta(seconds=45)
    record.serving(BrainVersion(4, 3))
    assert record.flush()
    row = _rows(platform)["w"]
    assert (row.nlu_version, row.since, row.seen_at) == (4, clock.at, clock.at)


def test_rows_not_seen_for_a_day_are_forgotten_when_a_worker_starts(platform: Platform) -> None:
    clock = Clock()
    gone = ServedRecord(platform.session_factory, name="gone", clock=clock)
    gone.serving(BrainVersion(1, 0))
    gone.flush()
    clock.at = T0 + timedelta(days=1, seconds=1)
    fresh = ServedRecord(platform.session_factory, name="fresh", clock=clock)
    fresh.serving(BrainVersion(1, 0))
    fresh.flush()
    assert set(_rows(platform)) == {"fresh"}


def test_a_failed_write_never_stops_serving() -> None:
    def broken() -> Any:
        raise sa.exc.OperationalError("connect", {}, Exception("database is away"))

    record = ServedRecord(broken, name="w")  # type: ignore[arg-type]
    hot = HotBrain(ScriptedBrain(), BrainVersion(1, 0))
    hot.watch(record.serving)
    assert record.flush() is False  # logged, not raised

    def exploding(version: BrainVersion) -> None:
        raise RuntimeError("watcher bug")

    hot.watch(exploding)
    hot.offer(ScriptedBrain(), BrainVersion(2, 0))
    assert hot.swap() and hot.version == BrainVersion(2, 0)
    assert record.flush(heartbeat=True) is False


def test_cli_prints_the_table_and_exits_by_convergence(
    settings: Settings, platform: Platform, tmp_path: Path
) -> None:
    runner = CliRunner()
    with use_settings(settings):
        empty = runner.invoke(assistant_app, ["brain-status"])
        assert empty.exit_code == 1 and "not converged" in empty.stdout
        record = ServedRecord(platform.session_factory, name="worker-cli")
        record.serving(BrainVersion(None, 0))
        record.flush()
        shown = runner.invoke(assistant_app, ["brain-status"])
        assert shown.exit_code == 0, shown.output
        assert "worker-cli" in shown.stdout and "current" in shown.stdout
        assert "unregistered" in shown.stdout and "converged" in shown.stdout
        load_files(settings, [_doc(tmp_path)], encoder=None)
        behind = runner.invoke(assistant_app, ["brain-status", "--json"])
        assert behind.exit_code == 1
        data = json.loads(behind.stdout)
        assert data["kb_version"] == 1 and data["converged"] is False
        assert [(w["name"], w["current"]) for w in data["workers"]] == [("worker-cli", False)]
    broken = settings.model_copy(update={"database_url": "postgresql+psycopg://u@127.0.0.1:1/x"})
    with use_settings(broken):
        refused = runner.invoke(assistant_app, ["brain-status"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: cannot open the platform")


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_migration_matches_the_table(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ssmas.core.db import Base

    url = (
        f"sqlite:///{tmp_path / 'm.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if "assistant_brain_served" in repr(d)] == []
