"""The assistant's HTTP surface: the WhatsApp webhook and the agent API.

Customer data (``assistant:admin``): export and erasure of one customer's data on request.
Agent API (``assistant:read`` to look, ``assistant:write`` to act): list conversations, read one
(audited), take over, reply as an agent (text, buttons, a list, an image or a document, or a
canned response), private notes, status (open / pending / snoozed / resolved), assignment, the
escalation queue by team with its SLA clocks, canned responses and CSAT per agent or team, and
which brain every worker serves (``GET /assistant/brain``).
Teams, agents and assignment rules are managed with ``assistant:admin``. The
authenticated key is who acts (``apikey:<prefix>``: the conversation's owner and the audit's
actor); the ``agent`` of the body is only the name recorded beside it. Replies are audited
(message id, never the text).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

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


class Button(BaseModel):
    id: str = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=20)


class ListRow(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=24)
    description: str | None = Field(default=None, max_length=72)


class AgentReply(AgentAction):
    """A reply: ``text`` (the caption of an image or document), or ``canned_id``; ``kind`` and
    what it needs: ``buttons`` (1-3), ``rows`` + ``list_button`` (1-10 rows), ``link`` (+
    ``filename`` for a document)."""

    text: str = Field(default="", max_length=4096)
    kind: Literal["text", "buttons", "list", "image", "document"] = "text"
    buttons: list[Button] | None = Field(default=None, max_length=3)
    rows: list[ListRow] | None = Field(default=None, max_length=10)
    list_button: str | None = Field(default=None, max_length=20)
    link: str | None = Field(default=None, max_length=2048)
    filename: str | None = Field(default=None, max_length=240)
    canned_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class NoteBody(AgentAction):
    text: str = Field(min_length=1, max_length=4096)


class StatusBody(AgentAction):
    status: Literal["open", "pending", "snoozed", "resolved"]
    until: datetime | None = Field(default=None, description="snoozed: when it wakes (ISO 8601)")


class AssignBody(AgentAction):
    team: str | None = Field(default=None, max_length=64)
    to_agent: str | None = Field(default=None, max_length=200)


class TeamBody(BaseModel):
    name: str = Field(min_length=1, max_length=64)


class AgentBody(BaseModel):
    handle: str = Field(min_length=3, max_length=200, description="web:<name> or apikey:<prefix>")
    name: str = Field(min_length=1, max_length=200)
    languages: list[str] = Field(default_factory=list, max_length=20)
    capacity: int = Field(default=5, ge=1, le=1000)
    teams: list[str] = Field(default_factory=list, max_length=50)


class AgentPatch(BaseModel):
    status: Literal["available", "away"] | None = None
    capacity: int | None = Field(default=None, ge=1, le=1000)
    languages: list[str] | None = Field(default=None, max_length=20)
    teams: list[str] | None = Field(default=None, max_length=50)


class RuleBody(BaseModel):
    team: str = Field(min_length=1, max_length=64)
    intent: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=8)
    priority: Literal["urgent", "high", "medium", "low"] | None = None
    position: int = Field(default=100, ge=0, le=1_000_000)


class CannedBody(BaseModel):
    shortcut: str = Field(min_length=1, max_length=64)
    body: str = Field(min_length=1, max_length=4096)
    team: str | None = Field(default=None, max_length=64)


# Read after the key dependency (declared before them): a bad body without a key is a 401.
ActionBody = Annotated[AgentAction, Depends(json_body(AgentAction))]
ReplyBody = Annotated[AgentReply, Depends(json_body(AgentReply))]


def _console(platform: Platform) -> Console:
    return Console(
        platform.session_factory,
        channel_cipher(platform),
        platform.bus,
        platform.cache,
        channel_settings(platform),
    )


def _actor(key: ApiKeyRecord) -> str:
    """Who acts: the authenticated key, by its prefix (unique; the name may repeat)."""
    return f"apikey:{key.prefix}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _hand(
    move: Callable[..., Any], conversation_id: int, key: ApiKeyRecord, label: str
) -> dict[str, Any]:
    """Take a conversation over from the bot or hand it back (``move``: the console's method)."""
    row = await run_in_threadpool(
        partial(move, label=label), conversation_id, _actor(key), utcnow()
    )
    return {"id": row.id, "state": row.state, "agent": row.agent}


@api.get("/conversations")
async def list_conversations(
    platform: PlatformDep,
    _key: ReadKey,
    state: Annotated[str | None, Query(pattern="^(bot|handoff|human)$")] = None,
    status: Annotated[str | None, Query(pattern="^(open|pending|snoozed|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    rows = await run_in_threadpool(
        partial(_console(platform).conversations, state=state, status=status, limit=limit)
    )
    return [_summary_json(row) for row in rows]


def _summary_json(row: Any) -> dict[str, Any]:
    return {
        **row.__dict__,
        "last_activity_at": _iso(row.last_activity_at),
        "snoozed_until": _iso(row.snoozed_until),
    }


@api.get("/conversations/{conversation_id}", responses=NOT_FOUND)
async def read_conversation(
    conversation_id: IdPath, platform: PlatformDep, key: ReadKey
) -> dict[str, Any]:
    console = _console(platform)
    summary, messages = await run_in_threadpool(
        console.conversation, conversation_id, actor=f"apikey:{key.name}"
    )
    extra = await run_in_threadpool(console.workspace_view, conversation_id)
    handoff = extra["handoff"]
    return {
        **_summary_json(summary),
        "messages": [{**m.__dict__, "created_at": _iso(m.created_at)} for m in messages],
        "notes": [{**n.__dict__, "created_at": _iso(n.created_at)} for n in extra["notes"]],
        "team": extra["team"],
        "csat": extra["csat"],
        "handoff": None
        if handoff is None
        else {
            "id": handoff.id,
            "state": handoff.state,
            "priority": handoff.priority,
            "agent": handoff.agent,
            "first_response_due_at": _iso(handoff.sla_due_at),
            "first_response_at": _iso(handoff.first_response_at),
            "resolution_due_at": _iso(handoff.resolution_due_at),
            "paused": handoff.paused_at is not None,
        },
    }


@api.post(
    "/conversations/{conversation_id}/takeover",
    responses=ACTION_ERRORS,
    openapi_extra=json_body_doc(AgentAction),
)
async def take_over(
    conversation_id: IdPath, platform: PlatformDep, key: WriteKey, body: ActionBody
) -> dict[str, Any]:
    return await _hand(_console(platform).take_over, conversation_id, key, body.agent)


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
        partial(
            _console(platform).reply,
            label=body.agent,
            kind=body.kind,
            buttons=[(b.id, b.title) for b in body.buttons] if body.buttons else None,
            rows=[(r.id, r.title, r.description) for r in body.rows] if body.rows else None,
            list_button=body.list_button,
            link=body.link,
            filename=body.filename,
            canned_id=body.canned_id,
        ),
        conversation_id,
        _actor(key),
        body.text,
        utcnow(),
    )
    return JSONResponse({"message_id": message_id, "state": "queued"}, status_code=202)


@api.post(
    "/conversations/{conversation_id}/notes",
    status_code=201,
    responses=NOT_FOUND,
    openapi_extra=json_body_doc(NoteBody),
)
async def add_note(
    conversation_id: IdPath,
    platform: PlatformDep,
    key: WriteKey,
    body: Annotated[NoteBody, Depends(json_body(NoteBody))],
) -> JSONResponse:
    """A private note: agents see it on the conversation; it is never sent to the customer."""
    note_id = await run_in_threadpool(
        _console(platform).add_note, conversation_id, _actor(key), body.text, utcnow()
    )
    return JSONResponse({"note_id": note_id}, status_code=201)


@api.post(
    "/conversations/{conversation_id}/status",
    responses=NOT_FOUND,
    openapi_extra=json_body_doc(StatusBody),
)
async def set_status(
    conversation_id: IdPath,
    platform: PlatformDep,
    key: WriteKey,
    body: Annotated[StatusBody, Depends(json_body(StatusBody))],
) -> dict[str, Any]:
    """open, pending (waiting for the customer), snoozed (``until``), resolved (CSAT survey)."""
    row = await run_in_threadpool(
        partial(_console(platform).set_status, until=body.until),
        conversation_id,
        _actor(key),
        body.status,
        utcnow(),
    )
    return _summary_json(row)


@api.post(
    "/conversations/{conversation_id}/assign",
    responses=ACTION_ERRORS,
    openapi_extra=json_body_doc(AssignBody),
)
async def assign(
    conversation_id: IdPath,
    platform: PlatformDep,
    key: WriteKey,
    body: Annotated[AssignBody, Depends(json_body(AssignBody))],
) -> dict[str, Any]:
    """Route the open handoff to a team (next agent in turn) and/or to one agent."""
    return await run_in_threadpool(
        partial(_console(platform).assign, team=body.team, agent=body.to_agent),
        conversation_id,
        _actor(key),
        utcnow(),
    )


@api.post(
    "/conversations/{conversation_id}/handback",
    responses=ACTION_ERRORS,
    openapi_extra=json_body_doc(AgentAction),
)
async def hand_back(
    conversation_id: IdPath, platform: PlatformDep, key: WriteKey, body: ActionBody
) -> dict[str, Any]:
    return await _hand(_console(platform).hand_back, conversation_id, key, body.agent)


@api.get("/handoffs")
async def handoff_queue(
    platform: PlatformDep,
    _key: ReadKey,
    team: Annotated[str | None, Query(max_length=64, description="a team; '-': none")] = None,
) -> list[dict[str, Any]]:
    entries = await run_in_threadpool(partial(_console(platform).queue, utcnow(), team=team))
    return [
        {
            **e.__dict__,
            "opened_at": _iso(e.opened_at),
            "sla_due_at": _iso(e.sla_due_at),
            "resolution_due_at": _iso(e.resolution_due_at),
            "first_response_at": _iso(e.first_response_at),
        }
        for e in entries
    ]


AdminKey = Annotated[ApiKeyRecord, Depends(require_scope("assistant:admin"))]
DIRECTORY_ERRORS = error_responses(
    404, 409, descriptions={404: "no such team, agent or rule", 409: "it exists already"}
)


async def _directory(platform: Platform, key: ApiKeyRecord, action: str, **fields: Any) -> Any:
    return await run_in_threadpool(
        partial(_console(platform).directory, action, _actor(key), utcnow(), **fields)
    )


async def _created(
    platform: Platform, key: ApiKeyRecord, action: str, **fields: Any
) -> JSONResponse:
    """A directory entry added (a team, an agent, a rule, a canned response): 201 with it."""
    return JSONResponse(await _directory(platform, key, action, **fields), status_code=201)


async def _listing(platform: Platform, what: str, **fields: Any) -> Any:
    return await run_in_threadpool(partial(_console(platform).listing, what, **fields))


@api.get("/teams")
async def list_teams(platform: PlatformDep, _key: ReadKey) -> Any:
    return await _listing(platform, "teams")


@api.post(
    "/teams", status_code=201, responses=DIRECTORY_ERRORS, openapi_extra=json_body_doc(TeamBody)
)
async def add_team(
    platform: PlatformDep, key: AdminKey, body: Annotated[TeamBody, Depends(json_body(TeamBody))]
) -> JSONResponse:
    return await _created(platform, key, "add_team", name=body.name)


@api.get("/agents")
async def list_agents(platform: PlatformDep, _key: ReadKey) -> Any:
    return await _listing(platform, "agents")


@api.post(
    "/agents", status_code=201, responses=DIRECTORY_ERRORS, openapi_extra=json_body_doc(AgentBody)
)
async def add_agent(
    platform: PlatformDep,
    key: AdminKey,
    body: Annotated[AgentBody, Depends(json_body(AgentBody))],
) -> JSONResponse:
    return await _created(platform, key, "add_agent", **body.model_dump())


@api.patch("/agents/{handle}", responses=DIRECTORY_ERRORS, openapi_extra=json_body_doc(AgentPatch))
async def update_agent(
    handle: Annotated[str, Path(min_length=3, max_length=200)],
    platform: PlatformDep,
    key: AdminKey,
    body: Annotated[AgentPatch, Depends(json_body(AgentPatch))],
) -> Any:
    """Status (available / away), capacity, languages, teams; an agent who goes away or over
    capacity has their unanswered handoffs reassigned at once."""
    fields = body.model_dump(exclude_none=True)
    return await _directory(platform, key, "update_agent", handle=handle, **fields)


@api.get("/rules")
async def list_rules(platform: PlatformDep, _key: ReadKey) -> Any:
    return await _listing(platform, "rules")


@api.post(
    "/rules", status_code=201, responses=DIRECTORY_ERRORS, openapi_extra=json_body_doc(RuleBody)
)
async def add_rule(
    platform: PlatformDep, key: AdminKey, body: Annotated[RuleBody, Depends(json_body(RuleBody))]
) -> JSONResponse:
    return await _created(platform, key, "add_rule", **body.model_dump())


@api.delete("/rules/{rule_id}", responses=DIRECTORY_ERRORS)
async def delete_rule(rule_id: IdPath, platform: PlatformDep, key: AdminKey) -> Any:
    return await _directory(platform, key, "delete_rule", rule_id=rule_id)


@api.get("/canned")
async def list_canned(
    platform: PlatformDep,
    _key: ReadKey,
    team: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    return await _listing(platform, "canned", team=team)


@api.post(
    "/canned", status_code=201, responses=DIRECTORY_ERRORS, openapi_extra=json_body_doc(CannedBody)
)
async def add_canned(
    platform: PlatformDep,
    key: WriteKey,
    body: Annotated[CannedBody, Depends(json_body(CannedBody))],
) -> JSONResponse:
    """A canned response for a team (or all); ``{{name}}``, ``{{first_name}}``, ``{{agent}}``,
    ``{{conversation}}`` and ``{{phone_last4}}`` are filled when it is sent."""
    return await _created(platform, key, "add_canned", **body.model_dump())


@api.delete("/canned/{canned_id}", responses=DIRECTORY_ERRORS)
async def delete_canned(canned_id: IdPath, platform: PlatformDep, key: WriteKey) -> Any:
    return await _directory(platform, key, "delete_canned", canned_id=canned_id)


@api.get("/csat")
async def csat(
    platform: PlatformDep,
    _key: ReadKey,
    by: Annotated[Literal["agent", "team"], Query()] = "agent",
) -> Any:
    """Answered satisfaction surveys per agent or team: answers, mean (1-5), share of 4-5."""
    return await _listing(platform, "csat", by=by)


@api.get("/brain", responses=error_responses(503, descriptions={503: "registry unreadable"}))
async def brain(platform: PlatformDep, _key: ReadKey) -> Any:
    """Which brain every worker serves (NLU version, knowledge-base version, since when, last
    seen, ``stale``, ``current``) against the registry's champion and the knowledge base's
    version; ``converged``: some worker is alive and every live one is current."""
    from ssmas.assistant.brain_served import brain_status
    from ssmas.core.registry import RegistryError

    try:
        return await run_in_threadpool(brain_status, platform.session_factory, platform.settings)
    except RegistryError as exc:
        raise ApiError(503, "registry_unavailable", str(exc)) from None


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
