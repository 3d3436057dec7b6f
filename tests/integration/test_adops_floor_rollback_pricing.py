"""The agents' floor rollback goes through pricing (its floor service in process, its API when
pointed at a pricing server), and so does its undo: pricing validates, versions and audits every
floor; a floor pricing refuses or cannot set leaves the control plane as it was."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ssmas.adops.safety import SafeExecutor, SafetyPolicy, Verify, list_actions
from ssmas.adops.tools import MetricsView, ToolContext
from ssmas.adops.tools.floors import HttpFloors, floor_port_of, pricing_floors
from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security.audit import list_audit
from ssmas.core.security.keys import create_api_key
from ssmas.exchange.control_plane import ControlPlane, MemoryControlPlane
from ssmas.exchange.services import open_stores
from ssmas.exchange.world import World, build_world
from ssmas.pricing.floors.unit_floors import UnitFloorError, UnitFloors, UnknownAdUnit
from ssmas.settings import Settings, use_settings
from tests.integration.adops_support import T0, Clock, migrated_sqlite

INCIDENT = "inc-202410211000-bbbbbbbbbbbb"


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    with migrated_sqlite(tmp_path / "floors.db") as engine:
        yield engine


def small_unit(world: World) -> str:
    """An ad unit small enough that rolling its floor back is not high risk."""
    return next(u.ad_unit_id for u in world.ad_units if u.share < 0.1)


def rpm_view(unit_entity: tuple[str, str], after: float) -> MetricsView:
    """An hour at RPM 1.0, the fault (0.2), then ``after`` from T0 on."""
    view = MetricsView()
    points = []
    for i in range(-90, 20):
        at = T0 + timedelta(minutes=i)
        rpm = 1.0 if i < -10 else 0.2 if i < 1 else after
        points.append(
            {
                "ts": at.isoformat(),
                "entity_type": unit_entity[0],
                "entity_id": unit_entity[1],
                "rpm": rpm,
                "revenue_eur": 1.0,
            }
        )
        points.append(
            {
                "ts": at.isoformat(),
                "entity_type": "exchange",
                "entity_id": "exchange",
                "revenue_eur": 100.0,
            }
        )
    view.add(points)
    return view


def floor_fault(plane: ControlPlane, unit: str, floor: float = 25.0) -> int:
    return plane.apply({"floors": {unit: floor}}, actor="fault", reason="floor fault").version


def test_pricing_sets_reads_and_versions_unit_floors_and_refuses_bad_ones(
    engine: sa.Engine,
) -> None:
    world = build_world(7)
    plane = MemoryControlPlane(world)
    floors = UnitFloors(world, plane, audit=engine)
    unit = small_unit(world)
    before = floors.floor(unit)
    assert before["floor"] == before["default_floor"] == world.default_floors[unit]

    change = floors.set_floor(unit, 3.25, actor="alice", reason="test")
    assert (change.previous, change.floor) == (before["floor"], 3.25)
    assert change.version == plane.current().version
    assert plane.current().state.floors[unit] == 3.25
    assert floors.floor(unit)["floor"] == 3.25
    (last,) = floors.history(unit)
    assert (last["version"], last["floor"], last["actor"]) == (change.version, 3.25, "alice")
    with Session(engine) as session:
        audit = [a for a in list_audit(session, 20) if a.action == "pricing.unit_floor"]
    assert [(a.actor, a.target, a.details["floor"]) for a in audit] == [("alice", unit, 3.25)]

    version = plane.current().version
    with pytest.raises(UnknownAdUnit):
        floors.set_floor("no-such-unit", 1.0, actor="alice", reason="test")
    for bad in (-1.0, float("nan"), float("inf"), 5000.0):
        with pytest.raises(UnitFloorError, match="a floor is a price"):
            floors.set_floor(unit, bad, actor="alice", reason="test")
    with pytest.raises(UnitFloorError, match="name who asked"):
        floors.set_floor(unit, 1.0, actor=" ", reason="test")
    assert plane.current().version == version  # nothing refused was written


def test_floor_rollback_and_its_undo_go_through_pricing(engine: sa.Engine) -> None:
    world = build_world(7)
    plane = MemoryControlPlane(world)
    unit = small_unit(world)
    floor_fault(plane, unit)
    clock = Clock()
    # the floor did not help (RPM stays down): verification undoes it, through pricing again
    view = rpm_view(("ad_unit", unit), after=0.2)
    ctx = ToolContext(
        world,
        plane,
        view,
        clock=clock,
        reference=T0,
        floors=pricing_floors(world, plane, audit=engine),
    )
    ex = SafeExecutor(engine, ctx, SafetyPolicy(approvers=("alice",)), clock=clock)
    spec = Verify("ad_unit", unit, "rpm", 1.0, 0.2, lower_is_better=False)
    out = ex.propose(
        INCIDENT, "configuration", "floor_rollback", {"ad_unit_id": unit}, verify=spec, reason="x"
    )
    assert out.status == "applied"
    applied = plane.current()
    assert applied.state.floors[unit] == world.default_floors[unit]
    assert applied.reason.startswith("pricing unit floor: ")
    assert applied.actor == "agent:configuration"

    clock.now = T0 + timedelta(minutes=6)
    assert ex.verify(out.action_id or 0) == "rolled_back"
    undone = plane.current()
    assert undone.state.floors[unit] == 25.0
    assert (
        undone.reason.startswith("pricing unit floor: ") and "undo floor_rollback" in undone.reason
    )
    with Session(engine) as session:
        audit = [a for a in list_audit(session, 50) if a.action == "pricing.unit_floor"]
        (action,) = list_actions(session)
    assert sorted(a.details["floor"] for a in audit) == sorted([world.default_floors[unit], 25.0])
    assert (action["version_before"], action["version_after"]) == (
        applied.version - 1,
        applied.version,
    )


def test_a_floor_pricing_cannot_set_fails_and_changes_nothing(engine: sa.Engine) -> None:
    world = build_world(7)
    plane = MemoryControlPlane(world)
    unit = small_unit(world)
    version = floor_fault(plane, unit)
    clock = Clock()
    unreachable = HttpFloors("http://127.0.0.1:9", "key", timeout_s=2.0)
    ctx = ToolContext(
        world,
        plane,
        rpm_view(("ad_unit", unit), 1.0),
        clock=clock,
        reference=T0,
        floors=unreachable,
    )
    ex = SafeExecutor(engine, ctx, SafetyPolicy(approvers=("alice",)), clock=clock)
    out = ex.propose(
        INCIDENT, "configuration", "floor_rollback", {"ad_unit_id": unit}, verify=None, reason="x"
    )
    assert out.status == "failed" and "pricing API unreachable" in out.message
    assert plane.current().version == version
    assert plane.current().state.floors[unit] == 25.0


# ---- over pricing's HTTP API ------------------------------------------------------------------
@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    configured = settings.model_copy(update={"rate_limit_burst": 1000})
    with use_settings(configured):
        built = build_platform(configured)
        yield built
        built.close()


def api_key(platform: Platform, name: str, scopes: list[str]) -> str:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, name, scopes)
        uow.commit()
    return raw


def test_floor_rollback_over_pricings_api(platform: Platform) -> None:
    world = build_world(42)  # the live exchange's world: the one pricing's API serves
    plane, _ = open_stores(platform.settings, world)
    unit = small_unit(world)
    version = floor_fault(plane, unit)
    admin = api_key(platform, "adops-agents", ["pricing:admin", "pricing:read"])
    reader = api_key(platform, "viewer", ["pricing:read"])
    clock = Clock()
    with TestClient(create_app(platform)) as client:
        # bad input: a clear 4xx with a reason, nothing written
        path = f"/v2/ad-units/{unit}/floor"
        r = client.put(path, json={"floor_eur": -1}, headers={"X-API-Key": admin})
        assert r.status_code == 422 and r.json()["error"]
        r = client.put(
            "/v2/ad-units/nope/floor", json={"floor_eur": 1.0}, headers={"X-API-Key": admin}
        )
        assert r.status_code == 404 and r.json()["error"] == "ad_unit_not_found"
        r = client.put(path, json={"floor_eur": 1.0}, headers={"X-API-Key": reader})
        assert r.status_code == 403
        assert plane.current().version == version

        floors = HttpFloors("http://testserver", admin, client=client)
        view = rpm_view(("ad_unit", unit), 1.0)
        ctx = ToolContext(world, plane, view, clock=clock, reference=T0, floors=floors)
        ex = SafeExecutor(platform.engine, ctx, SafetyPolicy(approvers=("alice",)), clock=clock)
        out = ex.propose(
            INCIDENT,
            "configuration",
            "floor_rollback",
            {"ad_unit_id": unit},
            verify=None,
            reason="floor too high",
        )
        assert out.status == "applied", out.message
        current = plane.current()
        assert current.state.floors[unit] == world.default_floors[unit]
        assert current.actor == "adops-agents"  # the key pricing's API knows the agents by
        assert "agent:configuration" in current.reason

        r = client.get(path, headers={"X-API-Key": reader})
        assert r.status_code == 200
        body = r.json()
        assert body["floor"] == world.default_floors[unit]
        assert body["history"][0]["version"] == current.version
        assert body["history"][1]["floor"] == 25.0


def test_the_platform_picks_pricings_api_when_configured(platform: Platform) -> None:
    world = build_world(42)
    plane, _ = open_stores(platform.settings, world)
    in_process = floor_port_of(platform, world, plane)
    assert isinstance(in_process, UnitFloors) and in_process.audit is platform.engine
    incidents = platform.settings.incidents.model_copy(
        update={"agent_pricing_url": "http://127.0.0.1:9/", "agent_pricing_key": "k"}
    )
    pointed = dataclasses.replace(
        platform, settings=platform.settings.model_copy(update={"incidents": incidents})
    )
    remote = floor_port_of(pointed, world, plane)
    assert isinstance(remote, HttpFloors)
    with pytest.raises(ValueError, match="pricing API unreachable"):
        remote.set_floor(small_unit(world), 1.0, actor="agent:x", reason="test")
    assert plane.current().state.floors.get(small_unit(world)) is None
