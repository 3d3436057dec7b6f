"""Rendering dashboard pages inside the shared layout (sidebar, account box, assets).

Product routers build their pages with :func:`render_page`; the shell's own pages use
:func:`render`. Every HTML answer carries a strict Content-Security-Policy (scripts and styles
only from this site) and is never cached, since it shows live state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import Response

from ssmas import __version__
from ssmas.web.access import WebUser
from ssmas.web.charts import format_number
from ssmas.web.nav import GROUPS, registry

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_URL = "/web/static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["number"] = format_number

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def nav_items() -> list[dict[str, Any]]:
    """Every group with the pages registered under it, in sidebar order."""
    return [{"group": group, "pages": registry.pages(group.slug)} for group in GROUPS]


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: WebUser | None,
    active_group: str | None = None,
    status_code: int = 200,
) -> Response:
    """``template`` with the layout's context (nav, user, version, asset URLs) added."""
    full = {
        "static_url": STATIC_URL,
        "version": __version__,
        "nav": nav_items(),
        "user": user,
        "active_group": active_group,
        **context,
    }
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def render_page(
    request: Request,
    user: WebUser,
    *,
    group: str,
    title: str,
    body: str | Markup,
    status_code: int = 200,
) -> Response:
    """A product page: ``body`` inside the layout under ``group`` (a ``str`` is escaped, a
    ``Markup`` is inserted as HTML; build it from trusted templates only)."""
    return render(
        request,
        "page.html",
        {"title": title, "body": body},
        user=user,
        active_group=group,
        status_code=status_code,
    )
