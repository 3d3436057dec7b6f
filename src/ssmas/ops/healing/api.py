"""``GET /ops/healing``: the supervisor's recent healing actions and its workers' state;
``POST /ops/healing/{worker}/reset``: an operator closes a worker's open breaker.

Actions come from the healing journal in the platform's database (any process of the
deployment reads what every host's ``ssmas up`` supervisor wrote, each action naming its host;
``ssmas.ops.healing.journal``); the workers' state only from the process that runs the
supervisor (``supervised`` says whether this one does). Reading needs ``ops:read``; a reset
needs ``ops:admin``, is answered only by the supervising process (409 elsewhere), and goes to
the healing journal and the audit log (``ops.breaker_reset``, the key as actor). An unknown
worker is a 404, a breaker that is not open a 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from ssmas.core.api import require_scope
from ssmas.core.api.deps import PlatformDep
from ssmas.core.api.errors import Conflict, NotFound, error_responses
from ssmas.core.platform import Platform
from ssmas.core.security import ApiKeyRecord, record_audit
from ssmas.ops.healing.journal import journal_for
from ssmas.ops.healing.supervisor import BreakerNotOpen, Supervisor, UnknownWorker

__all__ = ["RUNTIME", "BreakerReset", "HealingReport", "healing_report", "reset_breaker", "router"]

RUNTIME = "ops.healing"
"""The name ``ssmas up`` attaches its :class:`Supervisor` under on the platform."""
router = APIRouter(prefix="/ops", tags=["ops"])
READ = [Depends(require_scope("ops:read"))]
AdminKey = Annotated[ApiKeyRecord, Depends(require_scope("ops:admin"))]
WorkerName = Annotated[
    str,
    Path(
        min_length=3,
        max_length=130,
        pattern=r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_.\-]+$",
        description="PRODUCT.WORKER, as GET /ops/healing names it",
    ),
]


class HealingActionOut(BaseModel):
    at: str = Field(description="UTC time, ISO 8601")
    action: str = Field(description="restart, scale_up, scale_down, open_breaker, ...")
    worker: str
    outcome: str = Field(description="ok, failed or skipped")
    reason: str
    detail: dict[str, Any] = Field(default_factory=dict)
    host: str = Field("", description="the host whose supervisor acted (empty: not recorded)")


class HealingReport(BaseModel):
    supervised: bool = Field(description="whether this process runs the worker supervisor")
    workers: list[dict[str, Any]] = Field(description="each supervised worker process's state")
    actions: list[HealingActionOut] = Field(description="newest first")


def healing_report(platform: Platform, limit: int = 100) -> HealingReport:
    """The journal's newest ``limit`` actions and, here, the supervisor's workers."""
    supervisor = platform.runtime(RUNTIME, Supervisor)
    journal = journal_for(platform)
    return HealingReport(
        supervised=supervisor is not None,
        workers=supervisor.status() if supervisor is not None else [],
        actions=[HealingActionOut(**vars(a)) for a in journal.recent(limit)],
    )


@router.get("/healing", dependencies=READ, responses=error_responses(401, 403, 422))
def list_healing(
    platform: PlatformDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> HealingReport:
    """The supervisor's newest healing actions (newest first) and its workers' state."""
    return healing_report(platform, limit)


class BreakerReset(BaseModel):
    worker: str
    actor: str = Field(description="who reset it: apikey:<prefix>")
    replicas: list[dict[str, Any]] = Field(description="the worker's replicas after the reset")


def reset_breaker(platform: Platform, worker: str, actor: str) -> BreakerReset:
    """Close ``worker``'s open breaker and restart it (the supervisor here), then audit it."""
    supervisor = platform.runtime(RUNTIME, Supervisor)
    if supervisor is None:
        raise Conflict(
            "not_supervised",
            "this process supervises no workers: reset on the server that `ssmas up` runs",
        )
    try:
        replicas = supervisor.reset_breaker(worker, actor)
    except UnknownWorker as exc:
        raise NotFound("unknown_worker", str(exc)) from None
    except BreakerNotOpen as exc:
        raise Conflict("breaker_closed", str(exc)) from None
    with platform.uow() as uow:
        record_audit(
            uow.session,
            actor=actor,
            action="ops.breaker_reset",
            target=worker,
            details={"replicas": len(replicas), "pids": [r["pid"] for r in replicas]},
        )
        uow.commit()
    return BreakerReset(worker=worker, actor=actor, replicas=replicas)


@router.post(
    "/healing/{worker}/reset",
    responses=error_responses(
        401,
        403,
        404,
        409,
        422,
        descriptions={
            404: "no such supervised worker",
            409: "its breaker is not open, or this process supervises no workers",
        },
    ),
)
def reset_worker(platform: PlatformDep, worker: WorkerName, key: AdminKey) -> BreakerReset:
    """Close a worker's open (or half-open) circuit breaker and restart it now, with no
    restarts counted against it; journalled and audited (``ops:admin``)."""
    return reset_breaker(platform, worker, f"apikey:{key.prefix}")
