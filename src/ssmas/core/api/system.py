"""Platform endpoints every deployment has: liveness, readiness, metrics and an auth ping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from ssmas import __version__
from ssmas.core import metrics
from ssmas.core.api.auth import require_scope
from ssmas.core.api.deps import PlatformDep
from ssmas.core.api.errors import error_response, error_responses
from ssmas.core.api.lean import lean_route
from ssmas.core.security.audit import AuditRecord, list_audit
from ssmas.core.security.keys import ApiKeyRecord

router = APIRouter()

READY_CHECK_TIMEOUT_S = 3.0


class Health(BaseModel):
    status: str
    version: str


class Pong(BaseModel):
    pong: bool
    key: str


@router.get("/health", tags=["platform"], response_model=Health)
async def health() -> Health:
    """Liveness: the process answers. Touches no dependency."""
    return Health(status="ok", version=__version__)


async def _run_check(check: Callable[[], object]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.to_thread(check), READY_CHECK_TIMEOUT_S)
    except TimeoutError:
        outcome: dict[str, Any] = {
            "ok": False,
            "error": f"timed out after {READY_CHECK_TIMEOUT_S}s",
        }
    except Exception as exc:
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    else:
        outcome = {"ok": True}
    outcome["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return outcome


@router.get(
    "/ready",
    tags=["platform"],
    responses=error_responses(503, descriptions={503: "a check failed (``checks`` says which)"}),
)
async def ready(request: Request, platform: PlatformDep) -> JSONResponse:
    """Readiness: database, bus, cache (and any product checks) answer; 503 with details if not."""
    checks = platform.readiness_checks()
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[name]) for name in names))
    detail = dict(zip(names, results, strict=True))
    failed = [name for name, result in detail.items() if not result["ok"]]
    if failed:
        return error_response(
            request,
            503,
            "not_ready",
            "failing checks: " + ", ".join(failed),
            status="unavailable",
            checks=detail,
        )
    return JSONResponse({"status": "ready", "checks": detail})


@router.get("/metrics", tags=["platform"], response_class=Response)
async def prometheus_metrics() -> Response:
    """Prometheus text exposition of the platform registry."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


@lean_route(router, "GET", "/v1/ping", tags=["platform"], response_model=Pong)
async def ping(request: Request, key: ApiKeyRecord) -> Response:
    """Answers any valid key: checks authentication and rate limiting end to end."""
    return Response(orjson.dumps({"pong": True, "key": key.name}), media_type="application/json")


AdminKey = Annotated[ApiKeyRecord, Depends(require_scope("admin"))]
MAX_ID = 2**63 - 1


class AuditPage(BaseModel):
    """Audit entries, newest first; ``next_before`` pages on to older ones (None: no more)."""

    entries: list[AuditRecord]
    next_before: int | None


@router.get("/v1/audit", tags=["platform"], response_model=AuditPage)
async def audit_log(
    platform: PlatformDep,
    _key: AdminKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="entries older than this id")
    ] = None,
    action: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=r"^[a-z0-9_.]+(\.\*)?$",
            description="only this action (``pii_key.*``: the family)",
        ),
    ] = None,
) -> AuditPage:
    """The append-only audit log of administrative actions (``admin`` scope)."""

    def read() -> list[AuditRecord]:
        with platform.uow() as uow:
            return list_audit(uow.session, limit, action=action, before_id=before)

    entries = await asyncio.to_thread(read)
    more = len(entries) == limit and entries[-1].id > 1
    return AuditPage(entries=entries, next_before=entries[-1].id if more else None)
