"""One control-plane contract, run against the memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.exchange.control_plane import ControlPlane, MemoryControlPlane
from ssmas.exchange.control_store_sql import SqlFaultStore, open_sql_stores
from ssmas.exchange.faults import make_fault
from ssmas.exchange.knobs import ControlPlaneError, ControlState
from ssmas.exchange.world import build_world

WORLD = build_world(42)
PARTNER = WORLD.partner_names()[0]
UNIT = WORLD.ad_units[0].ad_unit_id
T0 = datetime(2024, 10, 22, 10, tzinfo=UTC)


def _empty_tables(url: str) -> None:
    """The PostgreSQL database lives for the whole session: start each test from no rows."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("exchange_control_versions", "exchange_faults"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def plane(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlPlane]:
    if request.param == "memory":
        yield MemoryControlPlane(WORLD)
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'exchange.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    sql_plane, _ = open_sql_stores(url, WORLD)
    if request.param == "postgres":
        _empty_tables(url)
    yield sql_plane


def test_starts_at_world_defaults(plane: ControlPlane) -> None:
    current = plane.current()
    assert current.version == 0 and current.state == ControlState()


def test_every_change_is_a_new_version_with_its_author(plane: ControlPlane) -> None:
    v1 = plane.apply({"circuit_breakers": {PARTNER: True}}, actor="agent", reason="outage")
    v2 = plane.apply({"floors": {UNIT: 0.5}}, actor="pricing", reason="new floor")
    assert (v1.version, v2.version) == (1, 2)
    current = plane.current()
    assert current.state.circuit_breakers == {PARTNER: True}
    assert current.state.floors == {UNIT: 0.5}
    assert (current.actor, current.reason) == ("pricing", "new floor")
    assert current.created_at.tzinfo is not None
    assert [v.version for v in plane.history()] == [2, 1, 0]
    assert [v.version for v in plane.history(limit=1)] == [2]


def test_as_of_reads_the_version_in_force(plane: ControlPlane) -> None:
    plane.apply({"capacity_units": 12}, actor="a", reason="r", at=T0)
    plane.apply({"capacity_units": 14}, actor="a", reason="r", at=T0 + timedelta(hours=1))
    assert plane.as_of(T0 - timedelta(seconds=1)).state.capacity_units == 10
    assert plane.as_of(T0 + timedelta(minutes=30)).state.capacity_units == 12
    assert plane.as_of(T0 + timedelta(hours=2)).state.capacity_units == 14


def test_rollback_restores_an_old_state_as_a_new_version(plane: ControlPlane) -> None:
    plane.apply({"floors": {UNIT: 9.0}}, actor="a", reason="r")
    plane.apply({"blocked_sources": ["bot_network"]}, actor="a", reason="r")
    back = plane.rollback(1, actor="ops", reason="undo the block")
    assert back.version == 3
    assert back.state.floors == {UNIT: 9.0} and back.state.blocked_sources == ()
    assert back.change == {"rollback_to": 1}


def test_invalid_changes_leave_no_version(plane: ControlPlane) -> None:
    with pytest.raises(ControlPlaneError):
        plane.apply({"partner_weights": {"ghost": 0.0}}, actor="a", reason="r")
    with pytest.raises(ControlPlaneError):
        plane.apply({"partner_weights": {PARTNER: 2.0}}, actor="a", reason="r")
    assert plane.current().version == 0


def test_concurrent_writers_get_distinct_versions(tmp_path: Path) -> None:
    plane, _ = open_sql_stores(f"sqlite:///{tmp_path / 'race.db'}", WORLD)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            plane.apply({"capacity_units": 10 + i}, actor=f"w{i}", reason="race")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(v.version for v in plane.history()) == [0, 1, 2, 3, 4]


def test_fault_store_round_trip(tmp_path: Path) -> None:
    _, store = open_sql_stores(f"sqlite:///{tmp_path / 'faults.db'}", WORLD)
    assert isinstance(store, SqlFaultStore)
    fault = make_fault(WORLD, "cache_collapse", start=T0, minutes=15)
    store.add(fault, created_by="test")
    store.add(fault, created_by="test")  # idempotent
    assert store.all() == [fault]
    assert store.overlapping(T0 + timedelta(minutes=5), T0 + timedelta(minutes=6)) == [fault]
    assert store.overlapping(T0 + timedelta(minutes=15), T0 + timedelta(minutes=16)) == []
