"""AdOps agents' JSON API: the tool catalogue, the agents' cases and actions, the approvals
(approve or deny as a named approver) and the agents' audit trail.

Reads need ``adops:read``; decisions need ``adops:write`` and the key's name must be one of
``settings.incidents.agent_approvers`` (403 otherwise); a decided, expired or executed request
answers 409 and an unknown one 404. The running agents apply an approved action on their next
step; a denied or expired one is never applied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ssmas.adops.agents.orchestrator import cases
from ssmas.adops.runtime import incident_service
from ssmas.adops.safety import (
    ApprovalClosed,
    ApprovalNotFound,
    NotAnApprover,
    SafetyError,
    SafetyPolicy,
    adops_audit,
    decide,
    list_actions,
    list_approvals,
)
from ssmas.adops.tools import registry
from ssmas.core.api import require_scope
from ssmas.core.api.deps import PlatformDep
from ssmas.core.api.errors import Conflict, Forbidden, NotFound, error_responses
from ssmas.core.platform import Platform
from ssmas.core.security.keys import ApiKeyRecord

router = APIRouter(prefix="/adops/agents", tags=["adops"])
READ = [Depends(require_scope("adops:read"))]
WriteKey = Annotated[ApiKeyRecord, Depends(require_scope("adops:write"))]
ApprovalId = Annotated[str, Path(min_length=5, max_length=40, pattern=r"^apr-[0-9a-f]{16}$")]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


def policy_of(platform: Platform) -> SafetyPolicy:
    section = platform.settings.incidents
    return SafetyPolicy(
        mode=section.agent_mode,
        approvers=tuple(section.agent_approvers),
        approval_ttl=timedelta(minutes=section.approval_ttl_min),
    )


@router.get("/tools", dependencies=READ, responses=error_responses(401, 403))
def tools() -> list[dict[str, Any]]:
    """Every tool: name, description, risk, kind, reversibility, input and output schemas."""
    return [tool.spec() for tool in registry().values()]


@router.get("/cases", dependencies=READ, responses=error_responses(401, 403))
def agent_cases(platform: PlatformDep) -> list[dict[str, Any]]:
    return cases(incident_service(platform))


@router.get("/actions", dependencies=READ, responses=error_responses(401, 403, 422))
def actions(
    platform: PlatformDep,
    incident_id: Annotated[str | None, Query(max_length=40)] = None,
) -> list[dict[str, Any]]:
    with incident_service(platform).session() as session:
        return list_actions(session, incident_id)


@router.get("/approvals", dependencies=READ, responses=error_responses(401, 403, 422))
def approvals(
    platform: PlatformDep,
    state: Literal["pending", "approved", "denied", "expired", "executed"] | None = None,
) -> list[dict[str, Any]]:
    with incident_service(platform).session() as session:
        return list_approvals(session, state)


@router.get("/audit", dependencies=READ, responses=error_responses(401, 403, 422))
def audit(
    platform: PlatformDep, limit: Annotated[int, Query(ge=1, le=2000)] = 200
) -> list[dict[str, Any]]:
    with incident_service(platform).session() as session:
        return adops_audit(session, limit)


def _decide(
    platform: Platform, approval_id: str, key: ApiKeyRecord, approve: bool, note: str
) -> dict[str, Any]:
    try:
        return decide(
            platform.engine,
            policy_of(platform),
            approval_id,
            key.name,
            approve=approve,
            note=note,
            clock=lambda: datetime.now(UTC),
        )
    except ApprovalNotFound as exc:
        raise NotFound(message=str(exc)) from None
    except NotAnApprover as exc:
        raise Forbidden("not_an_approver", str(exc)) from None
    except ApprovalClosed as exc:
        raise Conflict("approval_closed", str(exc)) from None
    except SafetyError as exc:
        raise Conflict("approval_closed", str(exc)) from None


@router.post("/approvals/{approval_id}/approve", responses=error_responses(401, 403, 404, 409, 422))
def approve(
    platform: PlatformDep, approval_id: ApprovalId, key: WriteKey, body: DecisionIn | None = None
) -> dict[str, Any]:
    """Allow the action (the key's name must be a named approver)."""
    return _decide(platform, approval_id, key, True, body.note if body else "")


@router.post("/approvals/{approval_id}/deny", responses=error_responses(401, 403, 404, 409, 422))
def deny(
    platform: PlatformDep, approval_id: ApprovalId, key: WriteKey, body: DecisionIn | None = None
) -> dict[str, Any]:
    """Refuse the action: it is never applied and the incident goes to a person."""
    return _decide(platform, approval_id, key, False, body.note if body else "")
