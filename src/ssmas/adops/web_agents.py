"""AdOps agents' pages: approvals (approve / deny as the signed-in user), cases, actions, the
audit log, MTTR and automation by hour, and the tool catalogue.

Pages need ``adops:read``; approving or denying needs ``adops:write`` and the user's name among
``settings.incidents.agent_approvers`` (the refusal is shown on the page, nothing changes).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ssmas.adops.agents.orchestrator import cases
from ssmas.adops.api_agents import policy_of
from ssmas.adops.incidents.tables import IncidentRow
from ssmas.adops.runtime import incident_service
from ssmas.adops.safety import SafetyError, adops_audit, decide, list_actions, list_approvals
from ssmas.adops.tools import registry
from ssmas.adops.web import BASE, GROUP, _fragment, _refuse
from ssmas.core.platform import Platform
from ssmas.core.security import scopes_grant
from ssmas.web import WebUser, WebUserDep, login_redirect, register_page, render_page
from ssmas.web.access import platform_of, same_origin

router = APIRouter(include_in_schema=False)
register_page(GROUP, "Agents and approvals", f"{BASE}/agents")
register_page(GROUP, "Agent tools", f"{BASE}/tools")


def hourly(platform: Platform) -> list[dict[str, Any]]:
    """Resolved incidents per hour of resolution: count, automated share, mean MTTR."""
    with incident_service(platform).session() as session:
        rows = session.execute(
            sa.select(IncidentRow.opened_at, IncidentRow.resolved_at, IncidentRow.automated)
            .where(IncidentRow.state == "resolved")
            .order_by(IncidentRow.resolved_at.desc())
            .limit(5000)
        ).all()
    buckets: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for opened, resolved, automated in rows:
        if resolved is None:
            continue
        key = resolved.strftime("%Y-%m-%d %H:00")
        buckets[key].append(((resolved - opened).total_seconds() / 60.0, bool(automated)))
    out = []
    for hour in sorted(buckets, reverse=True)[:48]:
        items = buckets[hour]
        out.append(
            {
                "hour": hour,
                "resolved": len(items),
                "automated_pct": 100.0 * sum(a for _, a in items) / len(items),
                "mttr_min": sum(m for m, _ in items) / len(items),
            }
        )
    return out


def _gather(platform: Platform) -> dict[str, Any]:
    service = incident_service(platform)
    with service.session() as session:
        pending = list_approvals(session, "pending")
        actions = list_actions(session)[-100:][::-1]
        audit = adops_audit(session, 100)
    return {
        "pending": pending,
        "actions": actions,
        "audit": audit,
        "cases": cases(service)[:100],
        "hours": hourly(platform),
    }


async def _agents_view(
    request: Request, user: WebUser, error: str = "", status: int = 200
) -> Response:
    platform = platform_of(request)
    data = await run_in_threadpool(_gather, platform)
    policy = policy_of(platform)
    body = _fragment(
        "adops_agents.html",
        **data,
        error=error,
        mode=policy.mode,
        approvers=policy.approvers,
        can_write=scopes_grant(user.scopes, "adops:write"),
    )
    return render_page(
        request, user, group=GROUP, title="Agents and approvals", body=body, status_code=status
    )


@router.get(f"{BASE}/agents")
async def agents_page(request: Request, user: WebUserDep) -> Response:
    refused = _refuse(request, user, "Agents and approvals", "adops:read")
    if refused is not None or user is None:
        return refused or login_redirect(request)
    return await _agents_view(request, user)


async def _decide(
    request: Request, user: WebUser | None, approval_id: str, approve: bool
) -> Response:
    refused = _refuse(request, user, "Agents and approvals", "adops:write")
    if refused is not None or user is None:
        return refused or login_redirect(request)
    if not same_origin(request):
        return Response("cross-site request refused", status_code=403)
    platform = platform_of(request)
    try:
        await run_in_threadpool(
            decide,
            platform.engine,
            policy_of(platform),
            approval_id[:40],
            user.name,
            approve=approve,
            note="dashboard",
            clock=lambda: datetime.now(UTC),
        )
    except SafetyError as exc:
        return await _agents_view(request, user, error=str(exc), status=409)
    return RedirectResponse(f"{BASE}/agents", status_code=303)


@router.post(BASE + "/agents/approvals/{approval_id}/approve")
async def approve_action(approval_id: str, request: Request, user: WebUserDep) -> Response:
    return await _decide(request, user, approval_id, True)


@router.post(BASE + "/agents/approvals/{approval_id}/deny")
async def deny_action(approval_id: str, request: Request, user: WebUserDep) -> Response:
    return await _decide(request, user, approval_id, False)


@router.get(f"{BASE}/tools")
async def tools_page(request: Request, user: WebUserDep) -> Response:
    refused = _refuse(request, user, "Agent tools", "adops:read")
    if refused is not None or user is None:
        return refused or login_redirect(request)
    body = _fragment("adops_tools.html", tools=[t.spec() for t in registry().values()])
    return render_page(request, user, group=GROUP, title="Agent tools", body=body)
