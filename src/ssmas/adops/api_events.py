"""AdOps event rules over HTTP: list the rules, test a pattern or a rule against an event,
validate a rule file, publish an event.

Reads need ``adops:read``; publishing needs ``adops:write``. A malformed event, pattern or rule
file is a 422 whose message names the field at fault; an unknown rule a 404; a configured rule
file that does not load a 409 (the server's rules are unusable until it is fixed).
"""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ssmas.adops.events.dispatch import target_input
from ssmas.adops.events.envelope import EventError, parse_event
from ssmas.adops.events.pattern import PatternError, compile_pattern
from ssmas.adops.events.rules import RuleFileError, RuleSet, parse_rules
from ssmas.adops.events.service import EventRules, event_rules, publish_event
from ssmas.core.api import PlatformDep, require_scope
from ssmas.core.api.bodies import json_body, json_body_doc
from ssmas.core.api.errors import Conflict, InvalidInput, NotFound, error_responses
from ssmas.core.platform import Platform
from ssmas.core.security import ApiKeyRecord

__all__ = ["router"]

router = APIRouter(prefix="/adops", tags=["adops events"])
ReadKey = Annotated[ApiKeyRecord, Depends(require_scope("adops:read"))]
WriteKey = Annotated[ApiKeyRecord, Depends(require_scope("adops:write"))]
RuleName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]


class PatternTest(BaseModel):
    """An event and either a ``pattern`` or the name of a loaded ``rule`` to test it with."""

    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any]
    pattern: dict[str, Any] | None = None
    rule: RuleName | None = None


class RuleFileText(BaseModel):
    """A rule file's YAML text, to validate without installing it."""

    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=262_144)


class EventBody(BaseModel):
    """An event: ``source``, ``detail-type`` and ``detail`` (``id``, ``time`` and
    ``resources`` optional), as EventBridge's PutEvents takes it."""

    model_config = ConfigDict(extra="allow")

    source: str = Field(min_length=1, max_length=256)
    detail_type: str = Field(alias="detail-type", min_length=1, max_length=256)
    detail: dict[str, Any] = Field(default_factory=dict)


TestBody = Annotated[PatternTest, Depends(json_body(PatternTest))]
FileBody = Annotated[RuleFileText, Depends(json_body(RuleFileText))]


def _runtime(platform: Platform) -> EventRules:
    try:
        return event_rules(platform)
    except RuleFileError as exc:
        raise Conflict("rules_invalid", str(exc)) from None


def _rules_json(ruleset: RuleSet) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "description": r.spec.description,
            "enabled": r.spec.enabled,
            "pattern": r.spec.pattern,
            "targets": [t.spec.model_dump(exclude_defaults=True) for t in r.targets],
        }
        for r in ruleset.rules
    ]


@router.get("/rules", responses=error_responses(409, descriptions={409: "rule file invalid"}))
async def list_rules(platform: PlatformDep, _key: ReadKey) -> dict[str, Any]:
    """The loaded event rules, in file order."""
    runtime = await run_in_threadpool(_runtime, platform)
    return {"source": runtime.rules.source, "rules": _rules_json(runtime.rules)}


@router.post(
    "/rules/test",
    responses=error_responses(404, 409, 422, descriptions={404: "no such rule"}),
    openapi_extra=json_body_doc(PatternTest),
)
async def test_pattern(platform: PlatformDep, _key: ReadKey, body: TestBody) -> dict[str, Any]:
    """Whether the event matches the pattern (or the named rule), and what each target of the
    rule would receive."""
    if (body.pattern is None) == (body.rule is None):
        raise InvalidInput(message="give either pattern or rule")
    try:
        document = parse_event(body.event).document()
    except EventError as exc:
        raise InvalidInput("invalid_event", str(exc)) from None
    if body.pattern is not None:
        try:
            matcher = compile_pattern(body.pattern)
        except PatternError as exc:
            raise InvalidInput("invalid_pattern", f"pattern: {exc}") from None
        return {"matches": matcher(document), "event": document}
    runtime = await run_in_threadpool(_runtime, platform)
    rule = runtime.rules.get(body.rule or "")
    if rule is None:
        raise NotFound("rule_not_found", f"no rule {body.rule!r}")
    matched = rule.match(document)
    targets = []
    if matched:
        for t in rule.targets:
            try:
                received = target_input(t, document, rule.name)
            except Exception as exc:  # a template this event cannot fill
                received = {"error": f"{type(exc).__name__}: {exc}"}
            targets.append({"id": t.spec.id, "type": t.spec.type, "input": received})
    return {
        "matches": matched,
        "rule": rule.name,
        "enabled": rule.spec.enabled,
        "targets": targets,
        "event": document,
    }


@router.post(
    "/rules/validate",
    responses=error_responses(422),
    openapi_extra=json_body_doc(RuleFileText),
)
async def validate_rules(_key: ReadKey, body: FileBody) -> dict[str, Any]:
    """Check a rule file's YAML; a 422 names the rule and field at fault."""
    try:
        document = yaml.safe_load(body.yaml)
        ruleset = parse_rules(document, "rules")
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InvalidInput("invalid_rules", f"rules: not YAML: {problem}") from None
    except RuleFileError as exc:
        raise InvalidInput("invalid_rules", str(exc)) from None
    return {"valid": True, "rules": [r.name for r in ruleset.rules]}


@router.post(
    "/events",
    status_code=202,
    responses=error_responses(422),
    openapi_extra=json_body_doc(EventBody),
)
async def put_event(
    platform: PlatformDep,
    _key: WriteKey,
    request_body: Annotated[EventBody, Depends(json_body(EventBody))],
) -> JSONResponse:
    """Accept one event onto the events topic (the rules worker archives and dispatches it);
    an event sent again with the same ``id`` is stored once."""
    raw = request_body.model_dump(by_alias=True)
    try:
        event = parse_event(raw)
    except EventError as exc:
        raise InvalidInput("invalid_event", str(exc)) from None
    topic = platform.settings.adops.events_topic
    await run_in_threadpool(publish_event, platform.bus, event, topic)
    return JSONResponse({"id": event.id, "topic": topic}, status_code=202)
