"""Approvals over HTTP and the CLI: only a named approver decides, once, before expiry; bad
requests get a 4xx with a reason (CLI: exit code 2) and change nothing; tools and audit read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.adops.commands import adops_app
from ssmas.adops.safety import SafeExecutor, SafetyPolicy
from ssmas.adops.tools import MetricsView, ToolContext
from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security.keys import create_api_key
from ssmas.exchange.control_plane import MemoryControlPlane
from ssmas.exchange.world import build_world
from ssmas.settings import Settings, use_settings

runner = CliRunner()


@pytest.fixture()
def env(settings: Settings) -> Iterator[Settings]:
    incidents = settings.incidents.model_copy(update={"agent_approvers": ["alice"]})
    configured = settings.model_copy(update={"rate_limit_burst": 1000, "incidents": incidents})
    with use_settings(configured):
        yield configured


@pytest.fixture()
def platform(env: Settings) -> Iterator[Platform]:
    built = build_platform(env)
    yield built
    built.close()


@pytest.fixture()
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as test_client:
        yield test_client


def key(platform: Platform, name: str, scopes: list[str]) -> dict[str, str]:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, name, scopes)
        uow.commit()
    return {"X-API-Key": raw}


def request_shift(platform: Platform, *, ttl: timedelta = timedelta(minutes=15)) -> str:
    """An agent asks to shift a partner's traffic: a pending approval (wall-clock expiry)."""
    world = build_world(7)
    ctx = ToolContext(world, MemoryControlPlane(world), MetricsView())
    policy = SafetyPolicy(approvers=("alice",), approval_ttl=ttl)
    now = datetime.now(UTC)
    executor = SafeExecutor(platform.engine, ctx, policy, clock=lambda: now)
    out = executor.propose(
        "inc-202410211000-aaaaaaaaaaaa",
        "demand",
        "shift_traffic",
        {"partner": "corvus", "weight": 0.0},
        verify=None,
        reason="partner down",
    )
    assert out.approval_id is not None
    return out.approval_id


def test_approve_over_http_by_named_approver_once(client: TestClient, platform: Platform) -> None:
    approval = request_shift(platform)
    alice = key(platform, "alice", ["adops:read", "adops:write"])
    mallory = key(platform, "mallory", ["adops:read", "adops:write"])
    reader = key(platform, "alice", ["adops:read"])

    r = client.get("/adops/agents/approvals?state=pending", headers=reader)
    assert r.status_code == 200 and [a["approval_id"] for a in r.json()] == [approval]
    r = client.post(f"/adops/agents/approvals/{approval}/approve", headers=reader)
    assert r.status_code == 403  # no write scope
    r = client.post(f"/adops/agents/approvals/{approval}/approve", headers=mallory)
    assert r.status_code == 403 and "not an approver" in r.json()["message"]
    r = client.post("/adops/agents/approvals/apr-0000000000000000/approve", headers=alice)
    assert r.status_code == 404
    r = client.post("/adops/agents/approvals/not-an-id/approve", headers=alice)
    assert r.status_code == 422
    r = client.post(f"/adops/agents/approvals/{approval}/approve", headers=alice, json={"nope": 1})
    assert r.status_code == 422
    still = client.get("/adops/agents/approvals?state=pending", headers=reader).json()
    assert [a["approval_id"] for a in still] == [approval]  # nothing changed so far

    r = client.post(
        f"/adops/agents/approvals/{approval}/approve", headers=alice, json={"note": "go"}
    )
    assert r.status_code == 200 and r.json()["state"] == "approved"
    assert r.json()["decided_by"] == "alice"
    r = client.post(f"/adops/agents/approvals/{approval}/deny", headers=alice)
    assert r.status_code == 409  # replayed
    audit = client.get("/adops/agents/audit", headers=reader).json()
    actions = [a["action"] for a in audit]
    assert actions.count("adops.approval.approved") == 1
    assert actions.count("adops.approval.refused") == 2  # mallory and the replay


def test_an_expired_request_cannot_be_approved(client: TestClient, platform: Platform) -> None:
    approval = request_shift(platform, ttl=timedelta(seconds=-1))
    alice = key(platform, "alice", ["adops:write"])
    r = client.post(f"/adops/agents/approvals/{approval}/approve", headers=alice)
    assert r.status_code == 409 and "expired" in r.json()["message"]


def test_tool_catalogue_over_http(client: TestClient, platform: Platform) -> None:
    reader = key(platform, "ana", ["adops:read"])
    tools = client.get("/adops/agents/tools", headers=reader).json()
    assert len(tools) >= 20
    assert {t["risk"] for t in tools} == {"low", "medium", "high"}
    assert client.get("/adops/agents/tools").status_code == 401


def test_cli_approvals(env: Settings, platform: Platform) -> None:
    approval = request_shift(platform)
    assert request_shift(platform) == approval  # the same call twice is the same request
    result = runner.invoke(adops_app, ["agents", "approve", approval, "--as", "mallory"])
    assert result.exit_code == 2 and "not an approver" in result.output
    result = runner.invoke(adops_app, ["agents", "approve", "apr-nothing", "--as", "alice"])
    assert result.exit_code == 2 and "no approval" in result.output
    result = runner.invoke(adops_app, ["agents", "deny", approval, "--as", "alice"])
    assert result.exit_code == 0, result.output
    assert "denied by alice" in result.output
    result = runner.invoke(adops_app, ["agents", "approve", approval, "--as", "alice"])
    assert result.exit_code == 2 and "already denied" in result.output
    result = runner.invoke(adops_app, ["agents", "approvals", "--state", "bogus"])
    assert result.exit_code == 2
    result = runner.invoke(adops_app, ["agents", "approvals"])
    assert result.exit_code == 0 and "Approvals (1)" in result.output
    result = runner.invoke(adops_app, ["agents", "tools"])
    assert result.exit_code == 0 and "shift_traffic" in result.output


def test_dashboard_approves_as_the_signed_in_approver(
    client: TestClient, platform: Platform
) -> None:
    approval = request_shift(platform)
    mallory = key(platform, "mallory", ["adops:read", "adops:write"])
    client.post("/login", data={"api_key": mallory["X-API-Key"]})
    page = client.get("/dashboard/adops/agents")
    assert page.status_code == 200 and approval in page.text and "Approve" in page.text
    r = client.post(f"/dashboard/adops/agents/approvals/{approval}/approve")
    assert r.status_code == 409 and "not an approver" in r.text
    tools = client.get("/dashboard/adops/tools")
    assert tools.status_code == 200 and 'data-tool="shift_traffic"' in tools.text
    alice = key(platform, "alice", ["adops:read", "adops:write"])
    client.post("/login", data={"api_key": alice["X-API-Key"]})
    r = client.post(f"/dashboard/adops/agents/approvals/{approval}/deny", follow_redirects=False)
    assert r.status_code == 303
    reader = key(platform, "ana", ["adops:read"])
    (row,) = client.get("/adops/agents/approvals", headers=reader).json()
    assert row["state"] == "denied" and row["decided_by"] == "alice"
    page = client.get("/dashboard/adops/agents")
    assert "adops.approval.denied" in page.text and "No approval pending" in page.text


def test_the_demo_runs_the_agents_active_with_the_demo_key_as_approver(
    settings: Settings,
) -> None:
    from ssmas.demo import adops_for_demo

    demo = adops_for_demo(settings)
    assert demo.incidents.agent_mode == "active"
    assert demo.incidents.agent_approvers == ["demo"]
    chosen = settings.incidents.model_copy(update={"agent_mode": "shadow"})
    explicit = Settings.model_validate(
        {**settings.model_dump(), "incidents": chosen.model_dump(exclude_unset=True)}
    )
    assert adops_for_demo(explicit).incidents.agent_mode == "shadow"
