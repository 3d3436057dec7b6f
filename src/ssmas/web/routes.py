"""The dashboard's routes: sign in and out with an API key, the platform page, group pages.

``GET /`` sends visitors to ``/login`` or ``/dashboard``. ``POST /login`` checks the key and sets
an HttpOnly, SameSite=Lax cookie holding a signed, random session id (never the key); the
server keeps the session (its key and expiry) and ``POST /logout`` deletes it.
``/dashboard`` shows readiness (refreshed by HTMX from ``/dashboard/health``), settings and a
traffic chart fed by ``/dashboard/traffic.json``; ``/dashboard/<group>`` lists a product's pages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ssmas.core.api.auth import FailedAuthGuard, client_address, too_many_failures
from ssmas.core.platform import Platform
from ssmas.core.security import ApiKeyRecord, record_audit, verify_api_key
from ssmas.core.security.sessions import end_session, find_session, start_session
from ssmas.web.access import (
    WebUserDep,
    login_redirect,
    platform_of,
    safe_next,
    same_origin,
    session_id_of,
)
from ssmas.web.health import check_health
from ssmas.web.nav import get_group, registry
from ssmas.web.overview import settings_summary
from ssmas.web.rendering import STATIC_DIR, STATIC_URL, render, templates
from ssmas.web.session import COOKIE_NAME, issue_token
from ssmas.web.traffic import TrafficSampler

router = APIRouter(include_in_schema=False)
router.mount(STATIC_URL, StaticFiles(directory=str(STATIC_DIR)), name="web-static")

MAX_KEY_CHARS = 512
INVALID_KEY_MESSAGE = "That API key is not valid: it is unknown, revoked or mistyped."
TOO_MANY_MESSAGE = "Too many wrong API keys from your address: wait a minute and try again."
CROSS_SITE_MESSAGE = "This form was sent from another site; sign in from this page instead."


def _sampler(request: Request) -> TrafficSampler:
    """The app's traffic window, made on first use."""
    sampler: TrafficSampler | None = getattr(request.app.state, "web_traffic", None)
    if sampler is None:
        from ssmas.core import metrics

        sampler = TrafficSampler(metrics.REGISTRY)
        request.app.state.web_traffic = sampler
    return sampler


def _login_form(
    request: Request, *, error: str = "", notice: str = "", next_path: str = "", status: int = 200
) -> Response:
    return render(
        request,
        "login.html",
        {"error": error, "notice": notice, "next_path": next_path},
        user=None,
        status_code=status,
    )


def _too_many_failures(request: Request, next_path: str, wait_s: float) -> Response:
    refusal = too_many_failures(wait_s)
    response = _login_form(request, error=TOO_MANY_MESSAGE, next_path=next_path, status=429)
    response.headers.update(refusal.headers)
    return response


def _sign_in(platform: Platform, raw: str, client: str) -> tuple[ApiKeyRecord, str] | None:
    """Check the key, audit the attempt and start a session: ``(key, session id)`` or None."""
    with platform.uow() as uow:
        record = verify_api_key(uow.session, raw, touch=True)
        record_audit(
            uow.session,
            actor=record.prefix if record else "anonymous",
            action="web.login" if record else "web.login_failed",
            target="dashboard",
            details={"client": client},
        )
        session_id = None
        if record is not None:
            session_id, _ = start_session(
                uow.session, record.id, ttl_s=platform.settings.session_ttl_s
            )
        uow.commit()
    return (record, session_id) if record is not None and session_id is not None else None


def _sign_out(platform: Platform, session_id: str) -> None:
    with platform.uow() as uow:
        live = find_session(uow.session, session_id)
        if end_session(uow.session, session_id) and live is not None:
            record_audit(
                uow.session, actor=live.key_prefix, action="web.logout", target="dashboard"
            )
        uow.commit()


@router.get("/")
async def root(user: WebUserDep) -> RedirectResponse:
    return RedirectResponse("/dashboard" if user else "/login", status_code=303)


@router.get("/login")
async def login_page(request: Request, user: WebUserDep, next: str = "") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    notice = "You have signed out." if "signed_out" in request.query_params else ""
    return _login_form(request, notice=notice, next_path=next)


@router.post("/login")
async def login(
    request: Request,
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    raw = api_key.strip()
    next = next[:2048]
    if not same_origin(request):
        return _login_form(request, error=CROSS_SITE_MESSAGE, status=403)
    if not raw:
        return _login_form(request, error="Enter an API key.", next_path=next, status=401)
    if len(raw) > MAX_KEY_CHARS:
        return _login_form(request, error=INVALID_KEY_MESSAGE, next_path=next, status=401)
    platform = platform_of(request)
    client = client_address(request)
    guard: FailedAuthGuard | None = getattr(request.app.state, "auth_failures", None)
    if guard is not None and (wait := guard.blocked(client)) is not None:
        return _too_many_failures(request, next, wait)
    signed_in = await run_in_threadpool(_sign_in, platform, raw, client)
    if signed_in is None:
        if guard is not None and (wait := await guard.failed(client)) is not None:
            return _too_many_failures(request, next, wait)
        return _login_form(request, error=INVALID_KEY_MESSAGE, next_path=next, status=401)
    _record, session_id = signed_in
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        issue_token(platform.secret_key, session_id),
        max_age=platform.settings.session_ttl_s,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    if not same_origin(request):
        return _login_form(request, error=CROSS_SITE_MESSAGE, status=403)
    session_id = session_id_of(request)
    if session_id is not None:
        await run_in_threadpool(_sign_out, platform_of(request), session_id)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response


@router.get("/dashboard")
async def dashboard(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    platform = platform_of(request)
    _sampler(request).sample()
    context = {
        "title": "Platform",
        "health": await check_health(platform),
        "settings_summary": settings_summary(platform.settings),
    }
    return render(request, "dashboard.html", context, user=user, active_group="platform")


@router.get("/dashboard/health")
async def dashboard_health(request: Request, user: WebUserDep) -> Response:
    """The readiness panel alone, for HTMX to swap in."""
    if user is None:
        return login_redirect(request)
    report = await check_health(platform_of(request))
    response = templates.TemplateResponse(request, "_health.html", {"health": report})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/dashboard/traffic.json")
async def dashboard_traffic(request: Request, user: WebUserDep) -> Response:
    """Request rate and mean latency over the recent window, column-wise for uPlot."""
    if user is None:
        return JSONResponse(
            {"error": "unauthorized", "message": "sign in to the dashboard first"},
            status_code=401,
        )
    sampler = _sampler(request)
    sampler.sample()
    return JSONResponse(dict(sampler.feed()), headers={"Cache-Control": "no-store"})


@router.get("/dashboard/{group}")
async def group_page(request: Request, group: str, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    found = get_group(group)
    if found is None or found.slug == "platform":
        if found is not None:
            return RedirectResponse("/dashboard", status_code=303)
        return render(
            request,
            "page.html",
            {"title": "Not found", "body": f"There is no dashboard section called {group!r}."},
            user=user,
            status_code=404,
        )
    context = {"title": found.label, "group": found, "pages": registry.pages(found.slug)}
    return render(request, "group.html", context, user=user, active_group=found.slug)
