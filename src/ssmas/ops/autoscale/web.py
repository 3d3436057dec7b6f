"""The autoscaling advice page: each service's forecast with its interval and advised replicas.

The history is the platform's own request rate from Prometheus when ``SSMAS_OPS_PROMETHEUS_URL``
is set and answers (four weeks before the current hour), else the exchange's simulated traffic
(four weeks ending at the current hour's day);
the chart draws the last two days of load, the forecast of the next ``hours`` with its 95% band,
and the advised replicas as a step line on the right-hand axis.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ssmas.core.platform import Platform
from ssmas.ops.autoscale.advisor import Advice, recommend
from ssmas.ops.autoscale.forecast import ForecastError, fit, hour_start
from ssmas.ops.autoscale.traffic import (
    SERVICES,
    LoadHistory,
    read_prometheus,
    service_named,
    simulate_load,
)
from ssmas.web import WebUserDep, login_redirect, register_page, render_page

GROUP = "ops"
TITLE, PATH = "Autoscaling advice", "/dashboard/ops/autoscale"
HISTORY_DAYS = 28
SHOWN_HISTORY_HOURS = 48
VOLUME = 30_000_000.0
ServiceName = Literal["ssmas-api", "ssmas-worker-adops", "ssmas-worker-assistant"]

_templates = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parents[1] / "templates")),
    autoescape=select_autoescape(["html"]),
)
web_router = APIRouter(include_in_schema=False)
register_page(GROUP, TITLE, PATH)


def chart_svg(history: LoadHistory, advice: Advice, width: int = 760, height: int = 260) -> str:
    """An SVG of the recent load, the forecast with its band, and the replicas (step line)."""
    past = history.rps[-SHOWN_HISTORY_HOURS:]
    fc = advice.forecast
    n_past, n_fc = past.size, fc.point.size
    total = n_past + n_fc
    top = float(max(past.max(initial=0.0), fc.upper.max())) * 1.08 or 1.0
    replicas = np.array([h.replicas for h in advice.hours], dtype=float)
    rep_top = float(max(replicas.max(), 1.0)) * 1.15
    left, right, pad = 46, width - 40, 14
    span_y = height - 2 * pad

    def x(i: float) -> float:
        return left + (right - left) * i / max(total - 1, 1)

    def y(v: float) -> float:
        return pad + span_y * (1.0 - v / top)

    def yr(v: float) -> float:
        return pad + span_y * (1.0 - v / rep_top)

    def points(values: np.ndarray, offset: int) -> str:
        return " ".join(f"{x(offset + i):.1f},{y(float(v)):.1f}" for i, v in enumerate(values))

    band = (
        points(fc.upper, n_past)
        + " "
        + " ".join(
            f"{x(n_past + i):.1f},{y(float(v)):.1f}" for i, v in reversed(list(enumerate(fc.lower)))
        )
    )
    steps = []
    for i, r in enumerate(replicas):
        steps.append(f"{x(n_past + i - 0.5):.1f},{yr(r):.1f} {x(n_past + i + 0.5):.1f},{yr(r):.1f}")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="load forecast and replicas" class="autoscale-chart">',
        f'<line x1="{left}" y1="{height - pad}" x2="{right}" y2="{height - pad}" stroke="#999"/>',
        f'<line x1="{x(n_past - 0.5):.1f}" y1="{pad}" x2="{x(n_past - 0.5):.1f}" '
        f'y2="{height - pad}" stroke="#bbb" stroke-dasharray="4 3"/>',
        f'<text x="4" y="{pad + 4}" font-size="10">{top:,.0f} rps</text>',
        f'<text x="4" y="{height - pad}" font-size="10">0</text>',
        f'<text x="{right + 4}" y="{pad + 4}" font-size="10">{rep_top:.0f}</text>',
        f'<polygon data-series="interval" fill="#bee3f8" stroke="none" points="{band}"/>',
        f'<polyline data-series="history" fill="none" stroke="#4a5568" stroke-width="1.2" '
        f'points="{points(past, 0)}"/>',
        f'<polyline data-series="forecast" fill="none" stroke="#2b6cb0" stroke-width="1.6" '
        f'points="{points(fc.point, n_past)}"/>',
        f'<polyline data-series="replicas" fill="none" stroke="#dd6b20" stroke-width="1.4" '
        f'points="{" ".join(steps)}"/>',
        "</svg>",
    ]
    return "".join(parts)


def page_context(
    service: str,
    hours: int,
    now: datetime | None = None,
    prometheus_url: str | None = None,
) -> dict[str, Any]:
    """The page's figures for ``service``: history to the last full hour, advice after it."""
    now = now or datetime.now(UTC)
    svc = service_named(service)
    source, error = "simulated", ""
    history: LoadHistory | None = None
    if prometheus_url:
        current = now.replace(minute=0, second=0, microsecond=0)
        try:
            found = read_prometheus(
                prometheus_url, days=HISTORY_DAYS, end=current, services=(svc,), timeout_s=5.0
            )[svc.name]
            fit(found.hours, found.rps)  # enough hours of the week to forecast from
            history, source = found, "prometheus"
        except (ValueError, ForecastError) as exc:
            error = str(exc)[:200]
    if history is None:
        end = (now - timedelta(hours=1)).date()
        history = simulate_load(
            end - timedelta(days=HISTORY_DAYS - 1),
            HISTORY_DAYS,
            requests_per_day=VOLUME,
            services=(svc,),
        )[svc.name]
    advice = recommend(svc, history, hours)
    return {
        "service": svc,
        "services": [s.name for s in SERVICES],
        "hours": hours,
        "advice": advice,
        "svg": Markup(chart_svg(history, advice)),
        "history_end": hour_start(int(history.hours[-1])),
        "history_days": HISTORY_DAYS,
        "volume": VOLUME,
        "source": source,
        "prometheus_error": error,
        "prometheus_url": prometheus_url,
    }


@web_router.get(PATH)
async def autoscale_page(
    request: Request,
    user: WebUserDep,
    service: Annotated[ServiceName, Query()] = "ssmas-api",
    hours: Annotated[int, Query(ge=1, le=168)] = 24,
) -> Response:
    if user is None:
        return login_redirect(request)
    platform: Platform = request.app.state.platform
    url = platform.settings.ops.prometheus_url
    context = await run_in_threadpool(page_context, service, hours, None, url)
    body = Markup(_templates.get_template("ops_autoscale.html").render(**context))
    return render_page(request, user, group=GROUP, title=TITLE, body=body)
