"""A publisher's demand eroding (the simulator's ``rpm_decay``, which no knob remedies): the
orchestrator classifies the incident DEMAND, the demand agent diagnoses it with evidence (which
publisher, RPM against its baseline and its peers, no partner, configuration or infrastructure
cause, revenue lost) and escalates it to a person with that diagnosis, changing nothing.

The incident is opened through the incident service from an alert on the publisher, so the test
does not depend on how soon the stream detects a gradual decay."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ssmas.adops.agents import cases
from ssmas.adops.agents.orchestrator import Planner
from ssmas.adops.agents.playbooks import Hypothesis, Triage
from ssmas.adops.agents.sim import Episode, utc
from ssmas.adops.agents.tables import AgentActionRow
from ssmas.adops.safety import SafetyPolicy, Verify, adops_audit
from ssmas.adops.stream.alerts import Alert, MetricAnomaly
from ssmas.exchange.faults import make_fault
from ssmas.exchange.world import build_world
from tests.integration.adops_support import migrated_sqlite

pytestmark = pytest.mark.slow

T0 = utc(2024, 10, 21, 4)
FAULT_AT = T0 + timedelta(minutes=180)
OPEN_AT = FAULT_AT + timedelta(minutes=20)


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    with migrated_sqlite(tmp_path / "agents.db") as engine:
        yield engine


def _alert(publisher: str) -> Alert:
    anomaly = MetricAnomaly(value=0.4, sliding_mean=0.45, baseline=0.65, z=-5.0, score=0.9)
    return Alert(
        fingerprint=f"test:publisher:{publisher}:rpm",
        source="test",
        entity_type="publisher",
        entity_id=publisher,
        ts=OPEN_AT,
        metrics={"rpm": anomaly},
        score=0.9,
        problem_type="revenue_drop",
        severity="high",
    )


def decay_episode(engine: sa.Engine, planner: Planner | None = None) -> tuple[Episode, str, str]:
    """Three hours teach the stream; the publisher's demand then erodes; an incident is opened on
    it 20 minutes in and the agents get ten more minutes. Returns the publisher and incident."""
    world = build_world(7)
    fault = make_fault(world, "rpm_decay", start=FAULT_AT, minutes=30)
    episode = Episode(
        world,
        engine,
        SafetyPolicy(mode="active", approvers=("alice",)),
        T0,
        faults=[fault],
        approver=("alice", lambda _req: True),
        planner=planner,
        agents_from=OPEN_AT + timedelta(days=1),  # the stream only learns; the test opens it
    )
    episode.run_until(OPEN_AT)
    opened = episode.incidents.ingest_alert(_alert(fault.entity)).opened
    assert len(opened) == 1
    for _ in range(10):  # ten more minutes: whatever is applied is verified in them
        episode.minute()
        episode.runner.step()
    return episode, fault.entity, opened[0]


def test_rpm_decay_is_diagnosed_and_escalated_with_nothing_changed(engine: sa.Engine) -> None:
    episode, publisher, iid = decay_episode(engine)
    (case,) = cases(episode.incidents)
    assert (case["category"], case["agent"], case["state"]) == ("DEMAND", "demand", "escalated")
    incident = episode.incidents.get(iid)
    assert incident["state"] == "escalated"
    assert incident["automated"] is False and incident["resolved_at"] is None

    agent_steps = [s for s in incident["timeline"] if s["kind"] == "agent"]
    diagnosis = next(s["data"] for s in agent_steps if s["data"].get("step") == "diagnosis")
    assert diagnosis["publisher"] == publisher
    assert diagnosis["change_pct"] <= -15  # its RPM against its own baseline
    assert diagnosis["peers"] >= 3
    # the peers did not move with it: its drop is its own (the peers follow the time of day)
    gap = diagnosis["change_pct"] - diagnosis["peers_median_change_pct"]
    assert diagnosis["gap_to_peers_pct"] == pytest.approx(gap, abs=0.2)
    assert gap <= -20
    assert diagnosis["lost_eur_per_hour"] > 0
    assert diagnosis["causes_ruled_out"] == ["partner", "configuration", "infrastructure"]
    assert diagnosis["automated_remedy"] is None
    assert publisher in diagnosis["summary"]
    used = {s["data"].get("tool") for s in agent_steps if s["data"].get("step") == "diagnose"}
    assert {"peer_comparison", "revenue_impact", "partner_health", "config_diff"} <= used

    # the escalation hands the diagnosis on: in the state change and in the audit log
    moved = next(
        s for s in incident["timeline"] if s["kind"] == "state" and s["data"]["to"] == "escalated"
    )
    assert "no automated remedy for rpm_decay" in moved["text"] and "diagnosis:" in moved["text"]
    with episode.incidents.session() as session:
        audit = [a for a in adops_audit(session) if a["target"] == iid]
        actions = session.scalars(sa.select(AgentActionRow)).all()
    escalate = next(a for a in audit if a["action"] == "adops.escalate")
    assert escalate["details"]["diagnosis"]["publisher"] == publisher
    assert "adops.classify" in {a["action"] for a in audit}

    # nothing was tried, nothing was changed
    assert actions == []
    assert episode.plane is not None
    assert all(not v.actor.startswith("agent:") for v in episode.plane.history(50))


class TimeoutPlanner:
    """A planner whose idea cannot help a publisher's eroding demand: a longer auction timeout."""

    name = "test-planner"

    def plan(
        self,
        incident: Mapping[str, Any],
        t: Triage,
        findings: list[dict[str, Any]],
        playbook: list[Hypothesis] | None = None,
    ) -> list[Hypothesis]:
        verify = Verify("publisher", t.entity_id, "rpm", 0.6, 0.4, lower_is_better=False)
        return [
            Hypothesis("wait longer for bids", "auction_timeout", {"timeout_ms": 450.0}, verify)
        ]


def test_a_remedy_that_cannot_help_is_rolled_back_then_escalated_with_the_diagnosis(
    engine: sa.Engine,
) -> None:
    episode, publisher, iid = decay_episode(engine, TimeoutPlanner())
    assert episode.plane is not None
    (case,) = cases(episode.incidents)
    assert (case["category"], case["state"], case["planner"]) == (
        "DEMAND",
        "escalated",
        "test-planner",
    )
    with episode.incidents.session() as session:
        (action,) = session.scalars(sa.select(AgentActionRow)).all()
    assert (action.tool, action.status) == ("auction_timeout", "rolled_back")
    # applied, then undone: the knobs are as they were before the agents came
    writes = [v for v in episode.plane.history(50) if v.actor.startswith("agent:")]
    assert [v.change for v in reversed(writes)] == [
        {"auction_timeout_ms": 450.0},
        {"auction_timeout_ms": 300.0},
    ]
    assert episode.plane.current().state.auction_timeout_ms == 300.0
    incident = episode.incidents.get(iid)
    assert incident["state"] == "escalated"
    moved = next(
        s for s in incident["timeline"] if s["kind"] == "state" and s["data"]["to"] == "escalated"
    )
    assert "no hypothesis left to try" in moved["text"] and publisher in moved["text"]
