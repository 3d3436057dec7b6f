"""Knob changes and the in-memory control plane (the SQL one runs the same contract in
tests/integration/test_exchange_control_store.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ssmas.exchange.control_plane import MemoryControlPlane
from ssmas.exchange.knobs import ControlPlaneError, ControlState, apply_change
from ssmas.exchange.world import build_world

T0 = datetime(2024, 10, 22, 10, tzinfo=UTC)


def test_dict_knobs_merge_and_scalars_replace() -> None:
    state = apply_change(ControlState(), {"floors": {"a": 1.0}, "capacity_units": 12})
    state = apply_change(state, {"floors": {"b": 2.0}, "cache_policy": {"mode": "replica"}})
    assert state.floors == {"a": 1.0, "b": 2.0}
    assert state.capacity_units == 12
    assert state.cache_policy.mode == "replica" and state.cache_policy.ttl_s == 300


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, "at least one knob"),
        ({"warp_drive": 1}, "unknown knob"),
        ({"partner_weights": {"x": 1.5}}, r"\[0, 1\]"),
        ({"capacity_units": -1}, "capacity_units"),
        ({"cache_policy": {"mode": "disk"}}, "cache_policy"),
        ({"floors": [1, 2]}, "mapping"),
    ],
)
def test_bad_changes_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ControlPlaneError, match=message):
        apply_change(ControlState(), change)


def test_breaker_overrides_weight() -> None:
    state = ControlState(partner_weights={"p": 0.5}, circuit_breakers={"p": True})
    assert state.weight("p") == 0.0
    assert state.weight("q") == 1.0


def test_versions_record_who_why_and_when() -> None:
    world = build_world(1)
    partner = world.partner_names()[0]
    plane = MemoryControlPlane(world)
    v1 = plane.apply({"partner_weights": {partner: 0.0}}, actor="agent-7", reason="outage", at=T0)
    v2 = plane.apply({"capacity_units": 20}, actor="ops", reason="scale", at=T0 + timedelta(1))
    assert (v1.version, v2.version) == (1, 2)
    assert plane.current().state.partner_weights == {partner: 0.0}
    assert [v.actor for v in plane.history()] == ["ops", "agent-7", "system"]
    assert plane.as_of(T0 + timedelta(hours=1)).version == 1
    assert plane.as_of(T0 - timedelta(hours=1)).version == 0
    back = plane.rollback(0, actor="ops", reason="undo all")
    assert back.version == 3 and back.state == ControlState()


def test_unknown_entities_and_anonymous_changes_are_refused() -> None:
    plane = MemoryControlPlane(build_world(1))
    with pytest.raises(ControlPlaneError, match="unknown entity"):
        plane.apply({"floors": {"nope": 1.0}}, actor="a", reason="r")
    with pytest.raises(ControlPlaneError, match="traffic source"):
        plane.apply({"blocked_sources": ["martians"]}, actor="a", reason="r")
    with pytest.raises(ControlPlaneError, match="actor"):
        plane.apply({"capacity_units": 3}, actor=" ", reason="r")
    with pytest.raises(ControlPlaneError, match="no control-plane version"):
        plane.rollback(9, actor="a", reason="r")
