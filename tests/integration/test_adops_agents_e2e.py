"""The agents end to end on the live simulator: a partner outage is injected, the stream opens
an incident, the orchestrator classifies it DEMAND, the demand agent asks to shift the partner's
traffic, and a named approver allows it (the shift happens, RPM and latency recover, the incident
is resolved, the audit trail is complete) or denies it (the control plane is not touched)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.adops.agents import cases
from ssmas.adops.agents.sim import Episode, utc
from ssmas.adops.safety import SafetyPolicy, adops_audit
from ssmas.core.db import make_engine
from ssmas.core.db.migrate import upgrade
from ssmas.exchange.faults import make_fault
from ssmas.exchange.world import build_world
from tests.integration.adops_support import migrated_sqlite

pytestmark = pytest.mark.slow

T0 = utc(2024, 10, 21, 4)
FAULT_AT = T0 + timedelta(minutes=360)  # six hours teach the stream its baselines


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    with migrated_sqlite(tmp_path / "agents.db") as engine:
        yield engine


def outage_episode(engine: sa.Engine, approve: bool) -> Episode:
    world = build_world(7)
    fault = make_fault(world, "partner_outage", start=FAULT_AT, minutes=60)
    episode = Episode(
        world,
        engine,
        SafetyPolicy(approvers=("alice",)),
        T0,
        faults=[fault],
        approver=("alice", lambda _req: approve),
        agents_from=FAULT_AT - timedelta(minutes=30),
    )
    episode.run_until(FAULT_AT + timedelta(minutes=30))
    return episode


def _rpm(episode: Episode, start: object, end: object) -> float:
    values = episode.ctx.metrics.values("exchange", "exchange", "rpm", start, end)  # type: ignore[arg-type]
    return sum(values) / len(values)


def _first_case(episode: Episode) -> dict[str, object]:
    found = [c for c in cases(episode.incidents) if c["category"] != "NONE"]
    return min(found, key=lambda c: c["opened_at"])  # type: ignore[arg-type, return-value]


def test_partner_outage_is_shifted_after_approval_and_resolved(engine: sa.Engine) -> None:
    episode = outage_episode(engine, approve=True)
    assert episode.plane is not None
    case = _first_case(episode)
    assert case["category"] == "DEMAND" and case["agent"] == "demand"
    assert case["state"] == "resolved"
    incident = episode.incidents.get(str(case["incident_id"]))
    assert incident["state"] == "resolved"
    assert incident["resolved_by"] == "agent:demand"
    assert incident["automated"] is False  # a person approved the shift
    # the shift is real: the partner gets no traffic any more, written by the agent
    state = episode.plane.current().state
    assert state.weight("corvus") == 0.0
    writes = [v for v in episode.plane.history(20) if v.actor.startswith("agent:")]
    assert [v.change for v in writes] == [{"partner_weights": {"corvus": 0.0}}]
    # ... and it worked: exchange latency and RPM back near the hour before the fault
    base_rpm = _rpm(episode, FAULT_AT - timedelta(minutes=60), FAULT_AT)
    during = _rpm(episode, FAULT_AT + timedelta(minutes=2), FAULT_AT + timedelta(minutes=6))
    after = _rpm(episode, FAULT_AT + timedelta(minutes=20), FAULT_AT + timedelta(minutes=30))
    assert during < base_rpm
    assert after > during and abs(after - base_rpm) / base_rpm < 0.05
    # the timeline holds the reasoning in order
    steps = [s["data"].get("step") for s in incident["timeline"] if s["kind"] == "agent"]
    order = ["classify", "diagnose", "hypothesise", "act", "approval", "verify"]
    assert [s for s in order if s in steps] == order
    assert steps.index("classify") < steps.index("act") < steps.index("verify")
    # the audit trail is complete for this incident
    with episode.incidents.session() as session:
        audit = [a for a in adops_audit(session) if a["target"] == case["incident_id"]]
    actions = {a["action"] for a in audit}
    assert {
        "adops.classify",
        "adops.diagnose",
        "adops.approval.requested",
        "adops.approval.approved",
        "adops.apply",
        "adops.verify",
        "adops.resolve",
    } <= actions
    approved = next(a for a in audit if a["action"] == "adops.approval.approved")
    assert approved["actor"] == "alice"


def test_denied_shift_leaves_the_control_plane_untouched(engine: sa.Engine) -> None:
    episode = outage_episode(engine, approve=False)
    assert episode.plane is not None
    case = _first_case(episode)
    assert case["category"] == "DEMAND"
    assert case["state"] == "escalated"
    incident = episode.incidents.get(str(case["incident_id"]))
    assert incident["state"] == "escalated"
    assert all(not v.actor.startswith("agent:") for v in episode.plane.history(50))
    assert episode.plane.current().state.weight("corvus") == 1.0
    with episode.incidents.session() as session:
        audit = {a["action"] for a in adops_audit(session) if a["target"] == case["incident_id"]}
    assert "adops.approval.denied" in audit and "adops.apply" not in audit


@pytest.mark.parametrize("kind", ["partner_outage", "cache_collapse"])
def test_shadow_mode_proposes_the_active_first_action_and_changes_nothing(
    tmp_path: Path, kind: str
) -> None:
    firsts = {}
    for mode in ("active", "shadow"):
        url = f"sqlite:///{tmp_path / f'{mode}.db'}"
        upgrade(url)
        engine = make_engine(url)
        world = build_world(7)
        fault = make_fault(world, kind, start=FAULT_AT, minutes=60)
        episode = Episode(
            world,
            engine,
            SafetyPolicy(mode=mode, approvers=("alice",)),  # type: ignore[arg-type]
            T0,
            faults=[fault],
            approver=("alice", lambda _req: True),
            agents_from=FAULT_AT - timedelta(minutes=30),
        )
        episode.run_until(FAULT_AT + timedelta(minutes=15))
        assert episode.plane is not None
        actions = episode.runner.executor.actions()
        firsts[mode] = (actions[0]["tool"], actions[0]["args"])
        agent_writes = [v for v in episode.plane.history(50) if v.actor.startswith("agent:")]
        if mode == "shadow":
            assert agent_writes == []
            assert {a["status"] for a in actions} == {"shadow"}
            assert not any(c["state"] == "resolved" for c in cases(episode.incidents))
        else:
            assert len(agent_writes) == 1
        engine.dispose()
    assert firsts["shadow"] == firsts["active"]
