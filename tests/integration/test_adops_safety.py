"""The safety layer on a real database: bad tool calls change nothing, approvals only by named
approvers and only once, expiry, idempotency, shadow mode, cooldown, blast radius, and
verify-after-action that rolls back an action that did not help."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.adops.safety import (
    ApprovalClosed,
    NotAnApprover,
    SafeExecutor,
    SafetyPolicy,
    Verify,
    adops_audit,
    decide,
    list_actions,
)
from ssmas.adops.tools import InvalidArguments, MetricsView, ToolContext, UnknownTool, registry
from ssmas.exchange.control_plane import MemoryControlPlane
from ssmas.exchange.world import build_world
from tests.integration.adops_support import T0, Clock, migrated_sqlite

WORLD = build_world(7)


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    with migrated_sqlite(tmp_path / "safety.db") as engine:
        yield engine


def metrics(latency_after: float) -> MetricsView:
    """An hour of normal exchange minutes, a fault (latency 310 ms), then ``latency_after``."""
    view = MetricsView()
    points = []
    for i in range(-90, 20):
        at = T0 + timedelta(minutes=i)
        latency = 200.0 if i < -5 else 310.0 if i < 1 else latency_after
        points.append(
            {
                "ts": at.isoformat(),
                "entity_type": "exchange",
                "entity_id": "exchange",
                "bid_latency_ms": latency,
                "revenue_eur": 10.0,
                "rpm": 0.8,
            }
        )
        points.append(
            {
                "ts": at.isoformat(),
                "entity_type": "partner",
                "entity_id": "corvus",
                "revenue_eur": 1.0,
                "error_rate": 0.0 if i < -5 else 0.98,
            }
        )
    view.add(points)
    return view


def executor(
    engine: sa.Engine, clock: Clock, latency_after: float = 200.0, **policy: object
) -> SafeExecutor:
    plane = MemoryControlPlane(WORLD)
    ctx = ToolContext(WORLD, plane, metrics(latency_after), clock=clock, reference=T0)
    base: dict[str, object] = {"approvers": ("alice", "bob")}
    return SafeExecutor(engine, ctx, SafetyPolicy(**{**base, **policy}), clock=clock)  # type: ignore[arg-type]


def verify_spec() -> Verify:
    return Verify("exchange", "exchange", "bid_latency_ms", 200.0, 310.0, lower_is_better=True)


def agent_versions(ex: SafeExecutor) -> list[int]:
    return [v.version for v in ex.ctx.plane.history(50) if v.actor.startswith("agent:")]


def test_the_catalogue_has_twenty_typed_tools_with_risk_and_schemas() -> None:
    tools = registry()
    assert len(tools) >= 20
    for tool in tools.values():
        spec = tool.spec()
        assert spec["risk"] in ("low", "medium", "high")
        assert spec["input_schema"]["type"] == "object"
        assert "summary" in spec["output_schema"]["properties"]
    assert sum(t.kind == "remediation" for t in tools.values()) >= 10


def test_unknown_tool_and_invalid_arguments_change_nothing(engine: sa.Engine) -> None:
    ex = executor(engine, Clock())
    with pytest.raises(UnknownTool):
        ex.propose("inc-1", "demand", "drop_database", {}, verify=None, reason="x")
    with pytest.raises(InvalidArguments, match="weight"):
        ex.propose(
            "inc-1",
            "demand",
            "shift_traffic",
            {"partner": "corvus", "weight": 7},
            verify=None,
            reason="x",
        )
    with pytest.raises(InvalidArguments, match="sudo: Extra inputs"):
        ex.propose(
            "inc-1",
            "demand",
            "cache_warm",
            {"mode": "replica", "sudo": True},
            verify=None,
            reason="x",
        )
    from ssmas.adops.tools import ToolError

    with pytest.raises(ToolError, match="unknown partner"):
        ex.propose(
            "inc-1", "demand", "circuit_breaker", {"partner": "nobody"}, verify=None, reason="x"
        )
    assert ex.ctx.plane.current().version == 0
    assert ex.actions() == []


def test_high_risk_waits_for_a_named_approver_once(engine: sa.Engine) -> None:
    clock = Clock()
    ex = executor(engine, clock)
    out = ex.propose(
        "inc-1",
        "demand",
        "shift_traffic",
        {"partner": "corvus", "weight": 0.0},
        verify=verify_spec(),
        reason="down",
    )
    assert out.status == "awaiting_approval" and out.approval_id
    assert agent_versions(ex) == []
    with pytest.raises(NotAnApprover):
        ex.decide(out.approval_id, "mallory", approve=True)
    assert ex.run_approved() == []  # a refused decision approves nothing
    ex.decide(out.approval_id, "alice", approve=True)
    with pytest.raises(ApprovalClosed):  # replayed: the same approval twice
        ex.decide(out.approval_id, "bob", approve=True)
    applied = ex.run_approved()
    assert [a.status for a in applied] == ["applied"]
    assert ex.ctx.plane.current().state.weight("corvus") == 0.0
    assert ex.run_approved() == []  # an executed approval is not used again
    assert len(agent_versions(ex)) == 1
    with ex.session() as session:
        actions = [a["action"] for a in adops_audit(session)]
    assert "adops.approval.refused" in actions and "adops.approval.approved" in actions


def test_an_approval_expires_and_is_then_refused(engine: sa.Engine) -> None:
    clock = Clock()
    ex = executor(engine, clock, approval_ttl=timedelta(minutes=5))
    out = ex.propose(
        "inc-1",
        "demand",
        "shift_traffic",
        {"partner": "corvus", "weight": 0.0},
        verify=None,
        reason="down",
    )
    clock.now = T0 + timedelta(minutes=6)
    assert out.approval_id is not None
    with pytest.raises(ApprovalClosed, match="expired"):
        decide(engine, ex.policy, out.approval_id, "alice", approve=True, clock=clock)
    assert ex.run_approved() == []
    assert agent_versions(ex) == []
    assert [a["status"] for a in ex.actions()] == ["expired"]


def test_expire_due_closes_pending_requests(engine: sa.Engine) -> None:
    clock = Clock()
    ex = executor(engine, clock)
    out = ex.propose(
        "inc-1",
        "demand",
        "shift_traffic",
        {"partner": "corvus", "weight": 0.0},
        verify=None,
        reason="down",
    )
    clock.now = T0 + ex.policy.approval_ttl
    assert ex.expire_due() == [out.approval_id]
    assert ex.expire_due() == []


def test_same_call_twice_is_one_action(engine: sa.Engine) -> None:
    ex = executor(engine, Clock())
    first = ex.propose(
        "inc-1", "performance", "cache_warm", {"mode": "replica"}, verify=None, reason="cache"
    )
    again = ex.propose(
        "inc-1", "performance", "cache_warm", {"mode": "replica"}, verify=None, reason="cache"
    )
    assert first.status == "applied" and again.status == "duplicate"
    assert again.action_id == first.action_id
    assert len(agent_versions(ex)) == 1


def test_shadow_mode_proposes_and_changes_nothing(engine: sa.Engine) -> None:
    ex = executor(engine, Clock(), mode="shadow")
    out = ex.propose(
        "inc-1", "performance", "scale_capacity", {"units": 30}, verify=None, reason="saturated"
    )
    assert out.status == "shadow"
    assert ex.ctx.plane.current().version == 0
    assert [a["status"] for a in ex.actions()] == ["shadow"]


def test_cooldown_and_blast_radius_refuse(engine: sa.Engine) -> None:
    clock = Clock()
    ex = executor(engine, clock, max_blast_radius=0.05)
    assert (
        ex.propose(
            "inc-1", "infra", "scale_capacity", {"units": 20}, verify=None, reason="a"
        ).status
        == "applied"
    )
    clock.now = T0 + timedelta(minutes=2)
    second = ex.propose("inc-2", "infra", "scale_capacity", {"units": 25}, verify=None, reason="b")
    assert second.status == "refused" and "cooldown" in second.message
    # the partner earns 10% of revenue: over this policy's 5% limit
    big = ex.propose(
        "inc-3", "performance", "circuit_breaker", {"partner": "corvus"}, verify=None, reason="c"
    )
    assert big.status == "refused" and "blast radius" in big.message
    assert len(agent_versions(ex)) == 1


def test_verify_keeps_an_action_that_worked(engine: sa.Engine) -> None:
    clock = Clock()
    ex = executor(engine, clock, latency_after=205.0)
    out = ex.propose(
        "inc-1",
        "performance",
        "circuit_breaker",
        {"partner": "corvus"},
        verify=verify_spec(),
        reason="slow",
    )
    clock.now = T0 + timedelta(minutes=5)
    assert [a.action_id for a in ex.due()] == [out.action_id]
    assert ex.verify(out.action_id or 0) == "verified"
    assert ex.ctx.plane.current().state.weight("corvus") == 0.0


def test_verify_rolls_back_an_action_that_did_not_help(engine: sa.Engine) -> None:
    clock = Clock()
    ex = executor(engine, clock, latency_after=330.0)  # worse after the action
    out = ex.propose(
        "inc-1",
        "performance",
        "circuit_breaker",
        {"partner": "corvus"},
        verify=verify_spec(),
        reason="slow",
    )
    clock.now = T0 + timedelta(minutes=5)
    assert ex.verify(out.action_id or 0) == "rolled_back"
    state = ex.ctx.plane.current().state
    assert state.weight("corvus") == 1.0 and state.circuit_breakers == {"corvus": False}
    with ex.session() as session:
        rolled = [a for a in adops_audit(session) if a["action"] == "adops.rollback"]
        assert rolled and rolled[0]["details"]["worse"] is True
        assert list_actions(session)[0]["status"] == "rolled_back"
