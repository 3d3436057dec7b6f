"""``GET /ops/healing``: the supervisor's recent healing actions and its workers' state.

Actions come from the healing journal of the data directory (any process on the host reads
what ``ssmas up``'s supervisor wrote); the workers' state only from the process that runs the
supervisor (``supervised`` says whether this one does). Needs ``ops:read``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from ssmas.core.api import require_scope
from ssmas.core.api.deps import PlatformDep
from ssmas.core.api.errors import error_responses
from ssmas.core.platform import Platform
from ssmas.ops.healing.journal import HealingJournal, journal_path
from ssmas.ops.healing.supervisor import Supervisor

__all__ = ["RUNTIME", "HealingReport", "healing_report", "router"]

RUNTIME = "ops.healing"
"""The name ``ssmas up`` attaches its :class:`Supervisor` under on the platform."""
router = APIRouter(prefix="/ops", tags=["ops"])
READ = [Depends(require_scope("ops:read"))]


class HealingActionOut(BaseModel):
    at: str = Field(description="UTC time, ISO 8601")
    action: str = Field(description="restart, scale_up, scale_down, open_breaker, ...")
    worker: str
    outcome: str = Field(description="ok, failed or skipped")
    reason: str
    detail: dict[str, Any] = Field(default_factory=dict)


class HealingReport(BaseModel):
    supervised: bool = Field(description="whether this process runs the worker supervisor")
    workers: list[dict[str, Any]] = Field(description="each supervised worker process's state")
    actions: list[HealingActionOut] = Field(description="newest first")


def healing_report(platform: Platform, limit: int = 100) -> HealingReport:
    """The journal's newest ``limit`` actions and, here, the supervisor's workers."""
    supervisor = platform.runtime(RUNTIME, Supervisor)
    journal = HealingJournal(journal_path(platform.settings.data_dir))
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
