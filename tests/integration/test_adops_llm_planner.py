"""The LLM planner against a local fake OpenAI-compatible endpoint: its plan is used when it is
valid, and anything else (not JSON, an unknown tool, bad arguments, too slow, over budget) falls
back to the playbook with nothing of the bad plan applied; a valid plan still goes through the
safety layer (a high-risk action waits for approval)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.adops.agents import AgentRunner, cases
from ssmas.adops.agents.llm_planner import LLMPlanner
from ssmas.adops.agents.sim import utc
from ssmas.adops.incidents import IncidentService
from ssmas.adops.safety import SafetyPolicy
from ssmas.adops.stream import Alert
from ssmas.adops.stream.alerts import fingerprint
from ssmas.adops.tools import MetricsView, ToolContext
from ssmas.core.llm.openai_http import OpenAICompatibleLLM
from ssmas.exchange.control_plane import MemoryControlPlane
from ssmas.exchange.world import build_world
from tests.fakes.openai_server import FakeOpenAIServer, Reply, text_reply, tool_reply
from tests.integration.adops_support import migrated_sqlite

T0 = utc(2024, 10, 21, 10)
WORLD = build_world(7)


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    with migrated_sqlite(tmp_path / "planner.db") as engine:
        yield engine


@pytest.fixture()
def api() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def outage_metrics() -> MetricsView:
    view = MetricsView()
    points = []
    for i in range(-90, 1):
        at = (T0 + timedelta(minutes=i)).isoformat()
        down = i >= -5
        points.append(
            {
                "ts": at,
                "entity_type": "exchange",
                "entity_id": "exchange",
                "bid_latency_ms": 310.0 if down else 200.0,
                "revenue_eur": 10.0,
                "rpm": 0.8,
                "requests": 9000,
            }
        )
        points.append(
            {
                "ts": at,
                "entity_type": "partner",
                "entity_id": "corvus",
                "error_rate": 0.98 if down else 0.0,
                "revenue_eur": 0.0 if down else 0.3,
                "requests": 8000,
            }
        )
    view.add(points)
    return view


def run(engine: sa.Engine, planner: LLMPlanner) -> tuple[AgentRunner, str]:
    clock_now = [T0]

    def clock() -> datetime:
        return clock_now[0]

    incidents = IncidentService(engine, clock=clock)
    alert = Alert(
        fingerprint=fingerprint("exchange", "partner", "corvus", ["error_rate"]),
        source="exchange",
        entity_type="partner",
        entity_id="corvus",
        ts=T0,
        metrics={},
        score=0.9,
        problem_type="UNKNOWN",
        severity="high",
    )
    result = incidents.ingest_alert(alert)
    plane = MemoryControlPlane(WORLD)
    ctx = ToolContext(WORLD, plane, outage_metrics(), clock=clock)
    runner = AgentRunner(incidents, ctx, SafetyPolicy(approvers=("alice",)), planner=planner)
    runner.step()
    return runner, result.opened[0]


def llm(api: FakeOpenAIServer, timeout_s: float = 5.0) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(
        f"{api.url}/v1", api_key="sk-test", model="fake", timeout_s=timeout_s, max_retries=0
    )


def actions(runner: AgentRunner) -> list[tuple[str, str]]:
    return [(a["tool"], a["status"]) for a in runner.executor.actions()]


def case_of(runner: AgentRunner) -> dict[str, object]:
    (case,) = cases(runner.incidents)
    return case


def test_a_valid_llm_plan_is_used_and_still_needs_approval(
    engine: sa.Engine, api: FakeOpenAIServer
) -> None:
    api.script(tool_reply(("shift_traffic", {"partner": "corvus", "weight": 0.0})))
    runner, _ = run(engine, LLMPlanner(llm(api)))
    assert case_of(runner)["planner"] == "llm"
    assert actions(runner) == [("shift_traffic", "awaiting_approval")]
    sent = api.requests[0].json()
    offered = {t["function"]["name"] for t in sent["tools"]}
    assert "shift_traffic" in offered and "health_check" not in offered
    assert runner.ctx.plane.current().version == 0


@pytest.mark.parametrize(
    "reply",
    [
        text_reply("shift everything away from corvus, trust me"),  # not JSON
        tool_reply(("drop_all_partners", {})),  # no such tool
        tool_reply(("shift_traffic", {"partner": "corvus", "weight": 5})),  # invalid args
        tool_reply(("health_check", {})),  # not a remediation
        text_reply('[{"tool": "shift_traffic"'),  # broken JSON
    ],
)
def test_a_bad_plan_falls_back_to_the_playbook(
    engine: sa.Engine, api: FakeOpenAIServer, reply: Reply
) -> None:
    api.script(reply)
    runner, incident_id = run(engine, LLMPlanner(llm(api)))
    assert case_of(runner)["planner"] == "playbook"
    # the playbook's own plan, through the safety layer; nothing of the bad plan happened
    assert actions(runner) == [("shift_traffic", "awaiting_approval")]
    assert runner.ctx.plane.current().version == 0
    steps = [s["data"].get("step") for s in runner.incidents.get(incident_id)["timeline"]]
    assert "planner_fallback" in steps


def test_a_slow_llm_times_out_to_the_playbook(engine: sa.Engine, api: FakeOpenAIServer) -> None:
    api.script(Reply(200, {}, delay_s=1.5))
    planner = LLMPlanner(llm(api), timeout_s=0.3)
    runner, _ = run(engine, planner)
    assert case_of(runner)["planner"] == "playbook"
    assert actions(runner) == [("shift_traffic", "awaiting_approval")]
    planner.close()


def test_the_budget_stops_llm_calls(engine: sa.Engine, api: FakeOpenAIServer) -> None:
    runner, _ = run(engine, LLMPlanner(llm(api), max_calls=0))
    assert case_of(runner)["planner"] == "playbook"
    assert api.requests == []
