"""Fault scenarios: parsing, validation, and the injector's writes to the control plane."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ssmas.exchange import catalog
from ssmas.exchange.control_plane import MemoryControlPlane
from ssmas.exchange.faults import FAULT_KINDS, FaultError, make_fault, parse_scenario
from ssmas.exchange.injector import ACTOR, FaultInjector
from ssmas.exchange.world import build_world

WORLD = build_world(5)
DAY = date(2024, 10, 22)
T0 = datetime(2024, 10, 22, 10, tzinfo=UTC)


def test_every_issue_scenario_exists() -> None:
    assert set(FAULT_KINDS) == {
        "partner_outage",
        "partner_latency_spike",
        "floor_too_high",
        "ad_unit_misconfiguration",
        "invalid_traffic_surge",
        "cache_collapse",
        "capacity_saturation",
        "rpm_decay",
    }


def test_parse_scenario_with_defaults_and_options() -> None:
    default = parse_scenario(WORLD, "partner_outage", day=DAY)
    assert default.start == datetime(2024, 10, 22, 12, tzinfo=UTC)
    assert default.end - default.start == timedelta(minutes=60)
    assert default.entity in WORLD.partner_names()
    pub = WORLD.publisher_ids()[3]
    custom = parse_scenario(
        WORLD, f"rpm_decay,entity={pub},at=09:30,minutes=45,severity=0.5", day=DAY
    )
    assert (custom.entity, custom.severity) == (pub, 0.5)
    assert custom.start == datetime(2024, 10, 22, 9, 30, tzinfo=UTC)
    label = custom.label()
    assert label["type"] == "rpm_decay" and label["entity_type"] == "publisher"
    assert label["start"].startswith("2024-10-22T09:30")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("meteor_strike", "unknown scenario"),
        ("partner_outage,entity=nobody", "unknown partner"),
        ("cache_collapse,minutes=-5", "positive"),
        ("cache_collapse,color=red", "bad scenario option"),
        ("cache_collapse,minutes=lots", "bad scenario options"),
        ("cache_collapse,severity=0", "severity"),
    ],
)
def test_bad_scenarios_are_refused(spec: str, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        parse_scenario(WORLD, spec, day=DAY)


def test_fault_ids_are_deterministic() -> None:
    a = make_fault(WORLD, "cache_collapse", start=T0, minutes=20)
    b = make_fault(WORLD, "cache_collapse", start=T0, minutes=20)
    assert a.fault_id == b.fault_id
    assert a.active(T0) and not a.active(a.end)


def test_injector_writes_and_reverts_a_config_fault() -> None:
    unit = WORLD.ad_units[0]
    plane = MemoryControlPlane(WORLD)
    fault = make_fault(WORLD, "floor_too_high", start=T0, minutes=30, entity=unit.ad_unit_id)
    injector = FaultInjector(WORLD, plane, [fault], sim_time=True)
    injector.sync(T0 - timedelta(minutes=1))
    assert plane.current().version == 0
    injector.sync(T0)
    raised = plane.current().state.floors[unit.ad_unit_id]
    assert raised > 10 * unit.default_floor
    assert plane.current().actor == ACTOR
    injector.sync(fault.end)
    assert plane.current().state.floors[unit.ad_unit_id] == unit.default_floor
    assert plane.current().version == 2


def test_injector_leaves_a_remediated_knob_alone() -> None:
    unit = WORLD.ad_units[1]
    plane = MemoryControlPlane(WORLD)
    fault = make_fault(
        WORLD, "ad_unit_misconfiguration", start=T0, minutes=30, entity=unit.ad_unit_id
    )
    injector = FaultInjector(WORLD, plane, [fault], sim_time=True)
    injector.sync(T0)
    assert plane.current().state.ad_unit_sizes[unit.ad_unit_id] == catalog.MISCONFIGURED_SIZE
    plane.apply(
        {"ad_unit_sizes": {unit.ad_unit_id: unit.size}},
        actor="adops-agent",
        reason="restore size",
        at=T0 + timedelta(minutes=5),
    )
    injector.sync(fault.end + timedelta(minutes=1))
    assert plane.current().actor == "adops-agent"  # no revert written over the fix


def test_a_fault_added_every_minute_before_its_start_is_reverted_to_the_real_value() -> None:
    """The live exchange adds each fault it sees every minute, from a day before its start;
    applying it once per copy used to save the injected value as the one to restore."""
    world = build_world(11)
    plane = MemoryControlPlane(world)
    start = datetime(2024, 10, 21, 0, 10, tzinfo=UTC)
    fault = make_fault(world, "ad_unit_misconfiguration", start=start, minutes=30)
    injector = FaultInjector(world, plane, [], sim_time=True)
    for minute in range(60):
        now = start + timedelta(minutes=minute - 10)
        injector.add(fault)
        injector.sync(now)
    sizes = plane.current().state.ad_unit_sizes
    unit = next(u for u in world.ad_units if u.ad_unit_id == fault.entity)
    assert sizes[fault.entity] == unit.size
    assert len(plane.history()) == 3  # world defaults, the fault, its revert
