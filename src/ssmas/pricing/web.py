"""Pricing dashboard pages: models and traffic, drift over time, floors (live and simulated).

Three pages under ``/dashboard/pricing/`` (registered in the sidebar), two HTMX fragments (the
live serving panel and the demo's live floors against control, refreshed every 5 s), one JSON
feed for the drift chart, the simulation's PNG and the page script. Everything reads the running
serving side (``ServingRuntime``), the serving tables and the files the floor simulation and the
demo write under the data directory; a missing piece shows an empty state that says how to
produce it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ssmas.core.registry import ModelVersionInfo, RegistryError
from ssmas.pricing.api_admin import serving_summary
from ssmas.pricing.lifecycle.monitoring import MIN_ROWS
from ssmas.pricing.serving import store
from ssmas.pricing.serving.runtime import ServingRuntime, started_serving_runtime
from ssmas.web import WebUserDep, login_redirect, register_page, render_page
from ssmas.web.charts import break_gaps, format_number
from ssmas.web.rendering import SECURITY_HEADERS

PACKAGE_DIR = Path(__file__).resolve().parent
SCRIPT = PACKAGE_DIR / "static" / "pricing-drift.js"
GROUP = "pricing"
PAGES = {
    "models": ("Models & traffic", "/dashboard/pricing/models"),
    "drift": ("Drift", "/dashboard/pricing/drift"),
    "floors": ("Floors", "/dashboard/pricing/floors"),
}
METRIC_ORDER = ("valid_rmse", "valid_mae", "valid_r2", "train_rows", "valid_rows")

_templates = Environment(
    loader=FileSystemLoader(str(PACKAGE_DIR / "templates")),
    autoescape=select_autoescape(["html"]),
)
_templates.filters["number"] = format_number
web_router = APIRouter(include_in_schema=False)
for _title, _path in PAGES.values():
    register_page(GROUP, _title, _path)


def _html(template: str, **context: Any) -> Markup:
    return Markup(_templates.get_template(template).render(**context))


def _runtime(request: Request) -> ServingRuntime | None:
    return started_serving_runtime(request.app.state.platform)


def _serving(runtime: ServingRuntime | None) -> dict[str, Any]:
    if runtime is None:
        return {
            "models": {"champion": None, "challenger": None},
            "split": {"challenger_share": 0.0, "challenger_enabled": False},
            "timeout_ms": None,
            "loader_error": "pricing serving is not started in this process",
            "variants": {},
            "fallback_reasons": {},
        }
    return serving_summary(runtime)


def _versions(runtime: ServingRuntime | None) -> list[ModelVersionInfo]:
    registry = None if runtime is None else runtime.loader.registry
    if runtime is None or registry is None:
        return []
    try:
        return registry.list_versions(runtime.config.registry_model)
    except RegistryError:
        return []


def metric_columns(versions: list[ModelVersionInfo]) -> list[str]:
    """The metrics to tabulate: the usual ones first, then any other logged one (at most 8)."""
    seen = {m for v in versions for m in v.metrics}
    rest = sorted(seen - set(METRIC_ORDER))
    return [m for m in METRIC_ORDER if m in seen] + rest[
        : max(0, 8 - len(seen & set(METRIC_ORDER)))
    ]


@web_router.get("/dashboard/pricing/models")
async def models_page(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    runtime = _runtime(request)
    versions = await run_in_threadpool(_versions, runtime)
    body = _html(
        "pricing_models.html",
        serving=_serving(runtime),
        versions=versions[::-1],
        metric_names=metric_columns(versions),
        model_name=runtime.config.registry_model if runtime else "pricing-cpm",
    )
    return render_page(request, user, group=GROUP, title=PAGES["models"][0], body=body)


@web_router.get("/dashboard/pricing/models/live")
async def models_live(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    html = _html("pricing_live.html", serving=_serving(_runtime(request)))
    return Response(html, media_type="text/html", headers=SECURITY_HEADERS)


def _drift_state(runtime: ServingRuntime | None) -> dict[str, Any]:
    if runtime is None:
        return {"timeline": [], "latest": None, "reason": "pricing serving is not started"}
    timeline = runtime.monitor.timeline(limit=96)
    rows = store.recent_drift_reports(runtime.platform.engine, limit=1)
    latest = None
    if rows:
        row = rows[-1]
        latest = {
            "score": row["score"],
            "level": row["level"],
            "n_rows": row["n_rows"],
            "model_version": row["model_version"],
            "computed_at": row["computed_at"].isoformat(),
            "features": row["report"].get("features", []),
        }
    return {
        "timeline": timeline,
        "latest": latest,
        "reason": "It is computed from the captured sample of predictions "
        f"every {runtime.config.drift_interval_s:g} s, once {MIN_ROWS} requests are captured "
        "in the window.",
    }


@web_router.get("/dashboard/pricing/drift")
async def drift_page(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    runtime = _runtime(request)
    state = await run_in_threadpool(_drift_state, runtime)
    interval = f"{runtime.config.drift_interval_s:g} s" if runtime else "few minutes"
    body = _html("pricing_drift.html", interval=interval, min_rows=MIN_ROWS, **state)
    return render_page(request, user, group=GROUP, title=PAGES["drift"][0], body=body)


def drift_feed(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """The drift history column-wise for uPlot: times (Unix s), global score, each feature."""
    names = sorted({name for point in timeline for name in point["features"]})
    t, (score, levels, *features) = break_gaps(  # nulls where the monitor did not run
        [datetime.fromisoformat(p["computed_at"]).timestamp() for p in timeline],
        [[p[key] for p in timeline] for key in ("score", "level")]
        + [[p["features"].get(n) for p in timeline] for n in names],
    )
    return {
        "t": t,
        "score": score,
        "levels": levels,
        "features": dict(zip(names, features, strict=True)),
    }


@web_router.get("/dashboard/pricing/drift.json")
async def drift_json(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    state = await run_in_threadpool(_drift_state, _runtime(request))
    return JSONResponse(drift_feed(state["timeline"]), headers={"Cache-Control": "no-store"})


@web_router.get("/dashboard/pricing/assets/pricing-drift.js")
async def drift_script() -> Response:
    return FileResponse(SCRIPT, media_type="text/javascript")


def _live_floors(request: Request) -> dict[str, Any] | None:
    from ssmas.pricing.demo import read_live_floors

    return read_live_floors(request.app.state.platform.settings)


def _floor_state(request: Request) -> dict[str, Any]:
    from ssmas.pricing.floors.simulation_report import LABELS, floorsim_dir, latest_report

    platform = request.app.state.platform
    try:
        report = latest_report(platform.settings)
    except (OSError, ValueError):
        report = None
    return {
        "live": _live_floors(request),
        "report": report,
        "labels": LABELS,
        "has_plot": (floorsim_dir(platform.settings) / "latest.png").exists(),
        "configs": store.list_floor_configs(platform.engine),
    }


@web_router.get("/dashboard/pricing/floors")
async def floors_page(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    state = await run_in_threadpool(_floor_state, request)
    body = _html("pricing_floors.html", **state)
    return render_page(request, user, group=GROUP, title=PAGES["floors"][0], body=body)


@web_router.get("/dashboard/pricing/floors/live")
async def floors_live(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    live = await run_in_threadpool(_live_floors, request)
    html = _html("pricing_live_floors.html", live=live)
    return Response(html, media_type="text/html", headers=SECURITY_HEADERS)


@web_router.get("/dashboard/pricing/floors.png")
async def floors_plot(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    from ssmas.pricing.floors.simulation_report import floorsim_dir

    path = floorsim_dir(request.app.state.platform.settings) / "latest.png"
    if not path.exists():
        return JSONResponse(
            {"error": "not_found", "message": "no floor simulation plot yet"}, status_code=404
        )
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})
