"""The Ops dashboard page: firing alerts, the platform's health and the worker supervisor's
latest healing actions (``ssmas.ops.healing``), refreshed every 5 s.

Alerts come from Alertmanager's API when ``SSMAS_OPS_ALERTMANAGER_URL`` is set and it answers;
otherwise (the embedded default) from the platform's own readiness checks, so the page shows the
same health with neither Prometheus nor Alertmanager running.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ssmas.core.platform import Platform
from ssmas.ops.alerts import Alert, AlertmanagerClient, AlertmanagerError, alerts_from_checks
from ssmas.ops.healing.api import healing_report
from ssmas.web import WebUserDep, login_redirect, register_page, render_page
from ssmas.web.health import HealthReport, check_health
from ssmas.web.rendering import SECURITY_HEADERS

PACKAGE_DIR = Path(__file__).resolve().parent
GROUP = "ops"
TITLE, PATH = "Health & alerts", "/dashboard/ops/health"
HEALING_ROWS = 50

_templates = Environment(
    loader=FileSystemLoader(str(PACKAGE_DIR / "templates")),
    autoescape=select_autoescape(["html"]),
)
web_router = APIRouter(include_in_schema=False)
register_page(GROUP, TITLE, PATH)


@dataclass(frozen=True)
class AlertView:
    """What the page shows: the alerts, where they came from, and why not Alertmanager."""

    alerts: list[Alert]
    source: str
    error: str


def current_alerts(platform: Platform, health: HealthReport) -> AlertView:
    """Alertmanager's active alerts when configured and answering, else failing checks."""
    settings = platform.settings.ops
    error = ""
    if settings.alertmanager_url:
        client = AlertmanagerClient(
            settings.alertmanager_url, timeout_s=settings.alertmanager_timeout_s
        )
        try:
            return AlertView(client.alerts(), "alertmanager", "")
        except AlertmanagerError as exc:
            error = str(exc)[:200]
    checks = [(c.name, c.ok, c.detail) for c in health.checks]
    return AlertView(alerts_from_checks(checks), "platform", error)


async def _context(request: Request) -> dict[str, Any]:
    platform: Platform = request.app.state.platform
    health = await check_health(platform)
    view = await run_in_threadpool(current_alerts, platform, health)
    healing = await run_in_threadpool(healing_report, platform, HEALING_ROWS)
    return {
        "healing": healing,
        "health": health,
        "alerts": view.alerts,
        "source": view.source,
        "alertmanager_error": view.error,
        "alertmanager_url": platform.settings.ops.alertmanager_url,
        "prometheus_url": platform.settings.ops.prometheus_url,
    }


def _html(template: str, context: dict[str, Any]) -> Markup:
    return Markup(_templates.get_template(template).render(**context))


@web_router.get(PATH)
async def health_page(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    body = _html("ops_health.html", await _context(request))
    return render_page(request, user, group=GROUP, title=TITLE, body=body)


@web_router.get(f"{PATH}/live")
async def health_live(request: Request, user: WebUserDep) -> Response:
    """The alerts and health panel alone, for HTMX to swap in."""
    if user is None:
        return login_redirect(request)
    html = _html("ops_health_live.html", await _context(request))
    return Response(html, media_type="text/html", headers=SECURITY_HEADERS)
