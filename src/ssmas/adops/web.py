"""AdOps dashboard pages: incidents (list, detail with timeline and actions), the detector's
view of any series (SVG plot of values, scores and anomalies) and the NAB report.

Pages need a signed-in user with ``adops:read``; the forms need ``adops:write``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ssmas.adops.incidents import STATES, IncidentError, IncidentNotFound
from ssmas.adops.runtime import incident_service
from ssmas.adops.stream.job import load_checkpoint
from ssmas.adops.web_support import svg_plot
from ssmas.core.security import scopes_grant
from ssmas.web import WebUser, WebUserDep, login_redirect, register_page, render_page
from ssmas.web.access import platform_of, same_origin

GROUP = "adops"
BASE = "/dashboard/adops"
router = APIRouter(include_in_schema=False)
register_page(GROUP, "Incidents", f"{BASE}/incidents")
register_page(GROUP, "Series and detector", f"{BASE}/series")
register_page(GROUP, "NAB report", f"{BASE}/nab")

_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=select_autoescape(["html"]),
)


def _fragment(name: str, **context: Any) -> Markup:
    return Markup(_env.get_template(name).render(**context))


def _refuse(request: Request, user: WebUser | None, title: str, scope: str) -> Response | None:
    if user is None:
        return login_redirect(request)
    if not scopes_grant(user.scopes, scope):
        body = f"Your API key lacks the scope {scope}."
        return render_page(request, user, group=GROUP, title=title, body=body, status_code=403)
    return None


@router.get(f"{BASE}/incidents")
async def incidents_page(
    request: Request,
    user: WebUserDep,
    state: Annotated[str, Query(max_length=20)] = "",
    severity: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    refused = _refuse(request, user, "Incidents", "adops:read")
    if refused is not None or user is None:
        return refused or login_redirect(request)
    service = incident_service(platform_of(request))
    rows = await run_in_threadpool(
        service.list_incidents,
        state=state if state in STATES else None,
        severity=severity or None,
        limit=200,
    )
    body = _fragment(
        "adops_incidents.html",
        incidents=rows,
        states=STATES,
        severities=("critical", "high", "medium", "low"),
        state=state,
        severity=severity,
    )
    return render_page(request, user, group=GROUP, title="Incidents", body=body)


async def _incident_view(
    request: Request, user: WebUser, incident_id: str, error: str = "", status: int = 200
) -> Response:
    service = incident_service(platform_of(request))
    try:
        incident = await run_in_threadpool(service.get, incident_id)
    except IncidentNotFound:
        return render_page(
            request, user, group=GROUP, title="Incident", body="No such incident.", status_code=404
        )
    body = _fragment(
        "adops_incident.html",
        i=incident,
        error=error,
        can_write=scopes_grant(user.scopes, "adops:write"),
    )
    return render_page(
        request, user, group=GROUP, title=incident["title"], body=body, status_code=status
    )


@router.get(BASE + "/incidents/{incident_id}")
async def incident_page(incident_id: str, request: Request, user: WebUserDep) -> Response:
    refused = _refuse(request, user, "Incident", "adops:read")
    if refused is not None or user is None:
        return refused or login_redirect(request)
    return await _incident_view(request, user, incident_id[:40])


async def _act(
    request: Request, user: WebUser | None, incident_id: str, action: str, text: str = ""
) -> Response:
    refused = _refuse(request, user, "Incident", "adops:write")
    if refused is not None or user is None:
        return refused or login_redirect(request)
    if not same_origin(request):
        return Response("cross-site request refused", status_code=403)
    service = incident_service(platform_of(request))
    actor = f"web:{user.name}"
    incident_id = incident_id[:40]
    try:
        if action == "ack":
            await run_in_threadpool(service.acknowledge, incident_id, actor=actor)
        elif action == "resolve":
            await run_in_threadpool(service.resolve, incident_id, actor=actor, note=text[:5000])
        else:
            await run_in_threadpool(service.add_note, incident_id, actor=actor, text=text[:5000])
    except IncidentNotFound:
        return render_page(
            request, user, group=GROUP, title="Incident", body="No such incident.", status_code=404
        )
    except IncidentError as exc:
        return await _incident_view(request, user, incident_id, error=str(exc), status=409)
    return RedirectResponse(f"{BASE}/incidents/{incident_id}", status_code=303)


@router.post(BASE + "/incidents/{incident_id}/ack")
async def ack_action(incident_id: str, request: Request, user: WebUserDep) -> Response:
    return await _act(request, user, incident_id, "ack")


@router.post(BASE + "/incidents/{incident_id}/resolve")
async def resolve_action(
    incident_id: str, request: Request, user: WebUserDep, note: Annotated[str, Form()] = ""
) -> Response:
    return await _act(request, user, incident_id, "resolve", note)


@router.post(BASE + "/incidents/{incident_id}/note")
async def note_action(
    incident_id: str, request: Request, user: WebUserDep, text: Annotated[str, Form()] = ""
) -> Response:
    return await _act(request, user, incident_id, "note", text)


@router.get(f"{BASE}/series")
async def series_page(
    request: Request, user: WebUserDep, key: Annotated[str, Query(max_length=300)] = ""
) -> Response:
    refused = _refuse(request, user, "Series and detector", "adops:read")
    if refused is not None or user is None:
        return refused or login_redirect(request)
    processor, _ = await run_in_threadpool(load_checkpoint, platform_of(request).engine)
    keys = processor.series_keys()
    history = processor.series_history(key) if key else None
    plot = None
    if history is not None:
        values = [None if v != v else v for v in history["value"]]
        plot = svg_plot(values, history["score"], 0.5, label=key)
    body = _fragment(
        "adops_series.html",
        key=key,
        keys=keys[:5000],
        plot=plot,
        count=len(history["ts"]) if history else 0,
    )
    return render_page(request, user, group=GROUP, title="Series and detector", body=body)


@router.get(f"{BASE}/nab")
async def nab_page(request: Request, user: WebUserDep) -> Response:
    refused = _refuse(request, user, "NAB report", "adops:read")
    if refused is not None or user is None:
        return refused or login_redirect(request)
    text = resources.files("ssmas.adops").joinpath("nab_thresholds.json").read_text()
    doc = json.loads(text)
    body = _fragment(
        "adops_nab.html",
        profiles=doc.get("profiles", {}),
        config=doc.get("config", {}),
        chosen_on=doc.get("chosen_on", []),
    )
    return render_page(request, user, group=GROUP, title="NAB report", body=body)
