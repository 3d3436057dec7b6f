"""The assistant's dashboard pages: live conversations, the agent console (status, assignee,
private notes, canned responses, a composer for text, buttons, lists, images and documents), the
escalation queue by team with its SLA clocks and CSAT per agent and team, and the daily
analytics report with its plots.

Every page needs a signed-in user; decrypted personal data is shown only with ``assistant:read``
and agent actions (forms posting back here, audited by ``Console``) need ``assistant:write``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from time import monotonic
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ssmas.assistant import analytics, insights
from ssmas.assistant.console import Console
from ssmas.assistant.runtime import channel_cipher, channel_settings
from ssmas.core.api.bounds import DayOutOfRange, IdPath, parse_day
from ssmas.core.api.errors import DomainError, error_response
from ssmas.core.db import utcnow
from ssmas.core.security import scopes_grant
from ssmas.web import WebUser, WebUserDep, login_redirect, register_page, render_page
from ssmas.web.access import platform_of, same_origin
from ssmas.web.rendering import SECURITY_HEADERS

GROUP = "assistant"
BASE = "/dashboard/assistant"
router = APIRouter(include_in_schema=False)
register_page(GROUP, "Live conversations", f"{BASE}/conversations")
register_page(GROUP, "Escalation queue", f"{BASE}/queue")
register_page(GROUP, "Analytics", f"{BASE}/analytics")
register_page(GROUP, "Insights", f"{BASE}/insights")

_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=select_autoescape(["html"]),
)


def _fragment(name: str, **context: Any) -> Markup:
    return Markup(_env.get_template(name).render(**context))


def granted(user: WebUser, scope: str) -> bool:
    """The API keys' rule (``ssmas.core.security.scopes_grant``): one scope check for the page
    and the API."""
    return scopes_grant(user.scopes, scope)


def _console(request: Request) -> Console:
    platform = platform_of(request)
    return Console(
        platform.session_factory,
        channel_cipher(platform),
        platform.bus,
        platform.cache,
        channel_settings(platform),
    )


def _forbidden(request: Request, user: WebUser, title: str, scope: str) -> Response:
    body = f"Your API key lacks the scope {scope}."
    return render_page(request, user, group=GROUP, title=title, body=body, status_code=403)


def _actor(user: WebUser) -> str:
    return f"web:{user.name}"


@router.get(f"{BASE}/conversations")
async def conversations_page(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    rows = await _rows_markup(request, user)
    body = _fragment("conversations.html", rows=rows)
    return render_page(request, user, group=GROUP, title="Live conversations", body=body)


async def _rows_markup(request: Request, user: WebUser) -> Markup:
    listing = await run_in_threadpool(_console(request).conversations, limit=200)
    return _fragment("_rows.html", conversations=listing, show_pii=granted(user, "assistant:read"))


@router.get(f"{BASE}/conversations/rows")
async def conversation_rows(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    markup = await _rows_markup(request, user)
    return Response(str(markup), media_type="text/html", headers=SECURITY_HEADERS)


async def _conversation_view(
    request: Request, user: WebUser, conversation_id: int, *, error: str = "", status: int = 200
) -> Response:
    title = f"Conversation {conversation_id}"
    if not granted(user, "assistant:read"):
        return _forbidden(request, user, title, "assistant:read")
    console = _console(request)
    try:
        summary, messages = await run_in_threadpool(
            console.conversation, conversation_id, actor=_actor(user)
        )
    except DomainError as exc:
        return render_page(
            request, user, group=GROUP, title=title, body=exc.message, status_code=exc.status
        )
    extra = await run_in_threadpool(console.workspace_view, conversation_id)
    now = utcnow()
    handoff = extra["handoff"]
    clocks = _clocks(handoff, now) if handoff is not None else None
    body = _fragment(
        "conversation.html",
        summary=summary,
        messages=messages,
        error=error,
        can_write=granted(user, "assistant:write"),
        ws=extra,
        clocks=clocks,
    )
    return render_page(request, user, group=GROUP, title=title, body=body, status_code=status)


@router.get(BASE + "/conversations/{conversation_id}")
async def conversation_page(
    conversation_id: IdPath, request: Request, user: WebUserDep
) -> Response:
    if user is None:
        return login_redirect(request)
    return await _conversation_view(request, user, conversation_id)


async def _act(
    request: Request,
    user: WebUser | None,
    conversation_id: int,
    action: Callable[[Console, str, datetime], Any],
) -> Response:
    """Run an agent's action from a form (signed in, same origin, ``assistant:write``); a
    refused one re-renders the page with the reason and its 4xx status."""
    if user is None:
        return login_redirect(request)
    if not same_origin(request):
        return Response("cross-site request refused", status_code=403)
    if not granted(user, "assistant:write"):
        return _forbidden(request, user, f"Conversation {conversation_id}", "assistant:write")
    try:
        await run_in_threadpool(action, _console(request), _actor(user), utcnow())
    except DomainError as exc:
        return await _conversation_view(
            request, user, conversation_id, error=exc.message, status=exc.status
        )
    return RedirectResponse(f"{BASE}/conversations/{conversation_id}", status_code=303)


@router.post(BASE + "/conversations/{conversation_id}/takeover")
async def takeover_action(conversation_id: IdPath, request: Request, user: WebUserDep) -> Response:
    return await _act(
        request, user, conversation_id, lambda c, a, now: c.take_over(conversation_id, a, now)
    )


@router.post(BASE + "/conversations/{conversation_id}/handback")
async def handback_action(conversation_id: IdPath, request: Request, user: WebUserDep) -> Response:
    return await _act(
        request, user, conversation_id, lambda c, a, now: c.hand_back(conversation_id, a, now)
    )


class FormInvalid(DomainError):
    code = "invalid_form"
    status = 400


def _pairs(text: str, parts: int) -> list[tuple[str, ...]]:
    """Lines ``id | title [| description]`` of a composer field."""
    out: list[tuple[str, ...]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 2 or len(cells) > parts:
            raise FormInvalid(message=f"write one option per line as id | title: {line!r}")
        out.append(tuple(cells + [""] * (parts - len(cells))))
    return out


Field = Annotated[str, Form(max_length=8192)]


@router.post(BASE + "/conversations/{conversation_id}/reply")
async def reply_action(
    conversation_id: IdPath,
    request: Request,
    user: WebUserDep,
    text: Field = "",
    kind: Annotated[str, Form(max_length=16)] = "text",
    buttons: Field = "",
    rows: Field = "",
    list_button: Annotated[str, Form(max_length=64)] = "",
    link: Annotated[str, Form(max_length=4096)] = "",
    filename: Annotated[str, Form(max_length=512)] = "",
    canned_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    canned = int(canned_id) if canned_id.isdigit() else None

    def send(console: Console, agent: str, now: datetime) -> int:
        wordy = canned is None and kind in ("text", "buttons", "list")
        if wordy and (not text.strip() or len(text) > 4096):
            raise FormInvalid(message="Write a reply (1-4096 characters).")
        pairs = [(b[0], b[1]) for b in _pairs(buttons, 2)] if kind == "buttons" else None
        listing = [(r[0], r[1], r[2] or None) for r in _pairs(rows, 3)] if kind == "list" else None
        return console.reply(
            conversation_id,
            agent,
            text.strip(),
            now,
            kind=kind,
            buttons=pairs,
            rows=listing,
            list_button=list_button or None,
            link=link.strip() or None,
            filename=filename.strip() or None,
            canned_id=canned,
        )

    return await _act(request, user, conversation_id, send)


@router.post(BASE + "/conversations/{conversation_id}/note")
async def note_action(
    conversation_id: IdPath, request: Request, user: WebUserDep, text: Field = ""
) -> Response:
    return await _act(
        request,
        user,
        conversation_id,
        lambda c, a, now: c.add_note(conversation_id, a, text, now),
    )


@router.post(BASE + "/conversations/{conversation_id}/status")
async def status_action(
    conversation_id: IdPath,
    request: Request,
    user: WebUserDep,
    status: Annotated[str, Form(max_length=16)] = "",
    snooze_minutes: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    def change(console: Console, agent: str, now: datetime) -> Any:
        until = None
        if status == "snoozed":
            if not snooze_minutes.isdigit() or not 1 <= int(snooze_minutes) <= 90 * 24 * 60:
                raise FormInvalid(message="Snooze for 1 minute to 90 days.")
            until = now + timedelta(minutes=int(snooze_minutes))
        return console.set_status(conversation_id, agent, status, now, until=until)

    return await _act(request, user, conversation_id, change)


@router.post(BASE + "/conversations/{conversation_id}/assign")
async def assign_action(
    conversation_id: IdPath,
    request: Request,
    user: WebUserDep,
    team: Annotated[str, Form(max_length=64)] = "",
    agent: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return await _act(
        request,
        user,
        conversation_id,
        lambda c, a, now: c.assign(conversation_id, a, now, team=team or None, agent=agent or None),
    )


def _clocks(handoff: Any, now: datetime) -> dict[str, Any]:
    """The SLA clocks of a handoff as the pages show them."""
    first_due = handoff.sla_due_at
    first = (
        {"state": "met", "text": "answered"}
        if handoff.first_response_at is not None
        else {
            "state": "breached" if first_due < now else "running",
            "text": _span(first_due - now),
        }
    )
    due = handoff.resolution_due_at
    if due is None:
        resolution = {"state": "none", "text": ""}
    elif handoff.paused_at is not None:
        resolution = {"state": "paused", "text": _span(due - handoff.paused_at)}
    else:
        resolution = {"state": "breached" if due < now else "running", "text": _span(due - now)}
    return {"first": first, "resolution": resolution}


def _span(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


@router.get(f"{BASE}/queue")
async def queue_page(
    request: Request,
    user: WebUserDep,
    team: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if user is None:
        return login_redirect(request)
    if not granted(user, "assistant:read"):  # as GET /assistant/handoffs
        return _forbidden(request, user, "Escalation queue", "assistant:read")
    now = utcnow()
    console = _console(request)
    entries = await run_in_threadpool(lambda: console.queue(now, team=team or None))
    teams = await run_in_threadpool(console.listing, "teams")
    agents = await run_in_threadpool(console.listing, "agents")
    by_agent = await run_in_threadpool(lambda: console.listing("csat", by="agent"))
    by_team = await run_in_threadpool(lambda: console.listing("csat", by="team"))
    rows = []
    for e in entries:
        resolution = ""
        if e.resolution_due_at is not None:
            resolution = _span(e.resolution_due_at - now)
        rows.append({**e.__dict__, "left": _span(e.sla_due_at - now), "resolution": resolution})
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["team"] or "no team", []).append(row)
    body = _fragment(
        "queue.html",
        entries=rows,
        groups=groups,
        teams=teams,
        chosen=team or "",
        agents=agents,
        csat_agents=by_agent,
        csat_teams=by_team,
    )
    return render_page(request, user, group=GROUP, title="Escalation queue", body=body)


def _day(value: str | None) -> date | str:
    """The chosen day (today when none), or why ``value`` is refused."""
    if not value:
        return utcnow().date()
    try:
        return parse_day(value)
    except DayOutOfRange as exc:
        return str(exc)


REPORT_TTL_S = 15.0  # the page and its two plots ask for the same report at once


async def _report(request: Request, day: date) -> analytics.DailyReport:
    """The day's report, computed once for the page and its plots (kept ``REPORT_TTL_S`` in
    this app's state)."""
    platform = platform_of(request)
    reports: dict[date, tuple[float, analytics.DailyReport]] = getattr(
        request.app.state, "assistant_reports", {}
    )
    request.app.state.assistant_reports = reports
    cached = reports.get(day)
    if cached is not None and monotonic() - cached[0] < REPORT_TTL_S:
        return cached[1]
    report = await run_in_threadpool(
        analytics.daily_report, platform.session_factory, channel_cipher(platform), day
    )
    for stale in [d for d, (at, _r) in reports.items() if monotonic() - at >= REPORT_TTL_S]:
        reports.pop(stale, None)
    reports[day] = (monotonic(), report)
    return report


DayQuery = Annotated[str | None, Query(max_length=10)]


@router.get(f"{BASE}/analytics")
async def analytics_page(request: Request, user: WebUserDep, day: DayQuery = None) -> Response:
    if user is None:
        return login_redirect(request)
    chosen = _day(day)
    if isinstance(chosen, str):
        body = chosen[0].upper() + chosen[1:] + "."
        return render_page(
            request, user, group=GROUP, title="Analytics", body=body, status_code=400
        )
    report = await _report(request, chosen)
    body = _fragment("analytics.html", r=report, show_pii=granted(user, "assistant:read"))
    return render_page(request, user, group=GROUP, title="Analytics", body=body)


@router.get(f"{BASE}/insights")
async def insights_page(request: Request, user: WebUserDep, day: DayQuery = None) -> Response:
    """Intent trends and the escalation-risk model (``ssmas.assistant.insights``)."""
    if user is None:
        return login_redirect(request)
    chosen = _day(day)
    if isinstance(chosen, str):
        body = chosen[0].upper() + chosen[1:] + "."
        return render_page(request, user, group=GROUP, title="Insights", body=body, status_code=400)
    platform = platform_of(request)
    report = await run_in_threadpool(insights.insights, platform.session_factory, chosen)
    body = _fragment("insights.html", r=report)
    return render_page(request, user, group=GROUP, title="Insights", body=body)


@router.get(BASE + "/analytics/{plot}.png")
async def analytics_plot(
    plot: str, request: Request, user: WebUserDep, day: DayQuery = None
) -> Response:
    if user is None:
        return login_redirect(request)
    chosen = _day(day)
    if plot not in ("sentiment", "clusters"):
        return error_response(request, 404, "not_found", "no such plot")
    if isinstance(chosen, str):
        return error_response(request, 400, "bad_day", chosen)
    report = await _report(request, chosen)
    if plot == "sentiment":
        png = await run_in_threadpool(analytics.sentiment_png, report.sentiment)
    else:
        png = await run_in_threadpool(analytics.clusters_png, report.clustering)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
