"""The assistant's HTTP surface: the WhatsApp webhook and the agent API.

Customer data (``assistant:admin``): export and erasure of one customer's data on request.
Agent API (``assistant:read`` to look, ``assistant:write`` to act): list conversations, read one
(audited), take over, reply as an agent, hand back to the bot, and the escalation queue. The
authenticated key is who acts (``apikey:<prefix>``: the conversation's owner and the audit's
actor); the ``agent`` of the body is only the name recorded beside it. Replies are audited
(message id, never the text).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ssmas.assistant.console import Console
from ssmas.assistant.governance import NoSuchCustomer, governance_for
from ssmas.assistant.runtime import channel_cipher, channel_settings
from ssmas.assistant.webhook import router as webhook_router
from ssmas.core.api import ApiError, PlatformDep, require_scope
from ssmas.core.api.bodies import json_body, json_body_doc
from ssmas.core.api.bounds import IdPath
from ssmas.core.api.errors import error_responses
from ssmas.core.db import utcnow
from ssmas.core.platform import Platform
from ssmas.core.security import ApiKeyRecord

router = APIRouter()
router.include_router(webhook_router)

api = APIRouter(prefix="/assistant", tags=["assistant"])
ReadKey = Annotated[ApiKeyRecord, Depends(require_scope("assistant:read"))]
WriteKey = Annotated[ApiKeyRecord, Depends(require_scope("assistant:write"))]
NOT_FOUND = error_responses(404, descriptions={404: "no such conversation"})
ACTION_ERRORS = error_responses(
    404, 409, descriptions={404: "no such conversation", 409: "another agent holds it"}
)


class AgentAction(BaseModel):
    """``agent``: the name the caller goes by, recorded beside the key that acts (the owner and
    the audit's actor are always the authenticated key)."""

    agent: str = Field(min_length=1, max_length=200)


class AgentReply(AgentAction):
    text: str = Field(min_length=1, max_length=4096)


# Read after the key dependency (declared before them): a bad body without a key is a 401.
ActionBody = Annotated[AgentAction, Depends(json_body(AgentAction))]
ReplyBody = Annotated[AgentReply, Depends(json_body(AgentReply))]


def _console(platform: Platform) -> Console:
    return Console(platform.session_factory, channel_cipher(platform), platform.bus, platform.cache)


def _actor(key: ApiKeyRecord) -> str:
    """Who acts: the authenticated key, by its prefix (unique; the name may repeat)."""
    return f"apikey:{key.prefix}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@api.get("/conversations")
async def list_conversations(
    platform: PlatformDep,
    _key: ReadKey,
    state: Annotated[str | None, Query(pattern="^(bot|handoff|human)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    rows = await run_in_threadpool(_console(platform).conversations, state=state, limit=limit)
    return [{**row.__dict__, "last_activity_at": _iso(row.last_activity_at)} for row in rows]


@api.get("/conversations/{conversation_id}", responses=NOT_FOUND)
async def read_conversation(
    conversation_id: IdPath, platform: PlatformDep, key: ReadKey
) -> dict[str, Any]:
    summary, messages = await run_in_threadpool(
        _console(platform).conversation, conversation_id, actor=f"apikey:{key.name}"
    )
    return {
        **summary.__dict__,
        "last_activity_at": _iso(summary.last_activity_at),
        "messages": [{**m.__dict__, "created_at": _iso(m.created_at)} for m in messages],
    }


@api.post(
    "/conversations/{conversation_id}/takeover",
    responses=ACTION_ERRORS,
    openapi_extra=json_body_doc(AgentAction),
)
async def take_over(
    conversation_id: IdPath, platform: PlatformDep, key: WriteKey, body: ActionBody
) -> dict[str, Any]:
    row = await run_in_threadpool(
        partial(_console(platform).take_over, label=body.agent),
        conversation_id,
        _actor(key),
        utcnow(),
    )
    return {"id": row.id, "state": row.state, "agent": row.agent}


@api.post(
    "/conversations/{conversation_id}/reply",
    status_code=202,
    responses=ACTION_ERRORS,
    openapi_extra=json_body_doc(AgentReply),
)
async def reply(
    conversation_id: IdPath, platform: PlatformDep, key: WriteKey, body: ReplyBody
) -> JSONResponse:
    message_id = await run_in_threadpool(
        partial(_console(platform).reply, label=body.agent),
        conversation_id,
        _actor(key),
        body.text,
        utcnow(),
    )
    return JSONResponse({"message_id": message_id, "state": "queued"}, status_code=202)


@api.post(
    "/conversations/{conversation_id}/handback",
    responses=ACTION_ERRORS,
    openapi_extra=json_body_doc(AgentAction),
)
async def hand_back(
    conversation_id: IdPath, platform: PlatformDep, key: WriteKey, body: ActionBody
) -> dict[str, Any]:
    row = await run_in_threadpool(
        partial(_console(platform).hand_back, label=body.agent),
        conversation_id,
        _actor(key),
        utcnow(),
    )
    return {"id": row.id, "state": row.state, "agent": row.agent}


@api.get("/handoffs")
async def handoff_queue(platform: PlatformDep, _key: ReadKey) -> list[dict[str, Any]]:
    entries = await run_in_threadpool(_console(platform).queue, utcnow())
    return [
        {**e.__dict__, "opened_at": _iso(e.opened_at), "sla_due_at": _iso(e.sla_due_at)}
        for e in entries
    ]


AdminKey = Annotated[ApiKeyRecord, Depends(require_scope("assistant:admin"))]
PhonePath = Annotated[str, Path(pattern=r"^\+?[0-9]{6,20}$", description="WhatsApp number")]
CUSTOMER_ERRORS = error_responses(404, descriptions={404: "no conversation holds this number"})


@api.get("/customers/{phone}/export", responses=CUSTOMER_ERRORS)
async def export_customer(phone: PhonePath, platform: PlatformDep, key: AdminKey) -> Any:
    """Everything held about a customer, decrypted (GDPR art. 15/20, LFPDPPP); audited."""
    governance = governance_for(platform)
    try:
        return await run_in_threadpool(
            partial(governance.export, phone.lstrip("+"), actor=_actor(key))
        )
    except NoSuchCustomer as exc:
        raise ApiError(404, "no_such_customer", str(exc)) from None


@api.delete("/customers/{phone}", responses=CUSTOMER_ERRORS)
async def erase_customer(phone: PhonePath, platform: PlatformDep, key: AdminKey) -> Any:
    """Delete everything held about a customer: database, cache, bus archive, media; audited.
    Answers what was deleted, by place."""
    governance = governance_for(platform)
    try:
        report = await run_in_threadpool(
            partial(governance.erase, phone.lstrip("+"), actor=_actor(key))
        )
    except NoSuchCustomer as exc:
        raise ApiError(404, "no_such_customer", str(exc)) from None
    return {"erased": report.as_dict()}


router.include_router(api)


def setup(platform: Platform) -> None:
    """Read the channel settings once at start-up (fails fast on a bad environment)."""
    channel_settings(platform)
