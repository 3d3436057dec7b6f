"""Who is signed in to the dashboard: cookie → signed session id → a live server-side session.

Pages depend on ``WebUserDep`` (``WebUser | None``) and answer ``login_redirect(request)`` when
it is None. Every request looks the session up with its key (one query), so signing out,
expiry and revoking the key end a session at once; the raw key is only ever seen by
``POST /login``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ssmas.core.platform import Platform
from ssmas.core.security.sessions import find_session
from ssmas.web.session import COOKIE_NAME, read_token


@dataclass(frozen=True)
class WebUser:
    """The API key behind a dashboard session (never its secret)."""

    key_prefix: str
    name: str
    scopes: tuple[str, ...]


def platform_of(request: Request) -> Platform:
    """The running app's ``Platform`` (stored by ``create_app``'s lifespan)."""
    platform: Platform = request.app.state.platform
    return platform


def _live_session(platform: Platform, session_id: str) -> WebUser | None:
    with platform.uow() as uow:
        found = find_session(uow.session, session_id)
    if found is None:
        return None
    return WebUser(key_prefix=found.key_prefix, name=found.key_name, scopes=found.scopes)


def session_id_of(request: Request) -> str | None:
    """The session id of the request's cookie if its signature holds, else None."""
    return read_token(platform_of(request).secret_key, request.cookies.get(COOKIE_NAME))


async def current_user(request: Request) -> WebUser | None:
    """The signed-in user, or None (no cookie, bad signature, signed out, expired, revoked)."""
    session_id = session_id_of(request)
    if session_id is None:
        return None
    return await run_in_threadpool(_live_session, platform_of(request), session_id)


WebUserDep = Annotated[WebUser | None, Depends(current_user)]


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/dashboard`` (no open redirects)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 0x20 for ch in target)
    ):
        return "/dashboard"
    return target


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site (``Origin`` header)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def login_redirect(request: Request) -> Response:
    """Send an anonymous visitor to the login form (HTMX and JSON callers get a 401 instead)."""
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(
            {"error": "unauthorized", "message": "sign in to the dashboard first"},
            status_code=401,
        )
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    suffix = "" if target == "/dashboard" else f"?next={quote(target, safe='/')}"
    return RedirectResponse(f"/login{suffix}", status_code=303)
