"""The event envelope, shaped like EventBridge's: ``id``, ``source``, ``detail-type``, ``time``,
``resources``, ``detail`` (plus ``version``, ``account``, ``region`` and ``replay-name``).

``parse_event`` validates a JSON object into an :class:`Event` and raises :class:`EventError`
with one line naming the first bad field; ``Event.document()`` is the JSON object rules match
and targets receive (hyphenated keys, ``time`` as ISO-8601 UTC with a ``Z``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["MAX_DETAIL_BYTES", "Event", "EventError", "format_validation", "parse_event"]

MAX_DETAIL_BYTES = 256 * 1024  # EventBridge's entry limit
Name = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")]


class EventError(ValueError):
    """An event that cannot be accepted; the message is one line naming the field at fault."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Event(BaseModel):
    """One event on the AdOps bus; ``detail`` is free-form JSON (the pattern's main target)."""

    model_config = ConfigDict(
        populate_by_name=True, extra="forbid", frozen=True, hide_input_in_errors=True
    )

    version: str = Field(default="0", max_length=16)
    id: str = Field(
        default_factory=lambda: str(uuid.uuid4()),
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$",
    )
    source: Name
    detail_type: Name = Field(alias="detail-type")
    time: AwareDatetime = Field(default_factory=_now)
    account: str = Field(default="ssmas", max_length=64)
    region: str = Field(default="local", max_length=64)
    resources: list[Annotated[str, Field(max_length=1600)]] = Field(
        default_factory=list, max_length=100
    )
    detail: dict[str, Any] = Field(default_factory=dict)
    replay_name: str | None = Field(default=None, alias="replay-name", max_length=128)

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        try:
            at = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("time is out of range") from None
        if not 1970 <= at.year <= 9998:
            raise ValueError("time must fall between 1970 and 9998")
        return at

    def document(self) -> dict[str, Any]:
        """The JSON object rules see: EventBridge's field names, ``time`` like ``…T12:00:00Z``."""
        body: dict[str, Any] = {
            "version": self.version,
            "id": self.id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": self.account,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "region": self.region,
            "resources": list(self.resources),
            "detail": self.detail,
        }
        if self.replay_name is not None:
            body["replay-name"] = self.replay_name
        return body


def format_validation(exc: ValidationError, what: str = "event") -> str:
    """The first error of ``exc`` as ``what: field: message`` (one line, no input echoed)."""
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or what
    return f"{what}: {field}: {first.get('msg', 'invalid')}"


def parse_event(raw: Any) -> Event:
    """Validate a JSON object (a dict, or JSON text / bytes) as an :class:`Event`."""
    import orjson

    if isinstance(raw, bytes | str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"event: not JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise EventError(f"event: expected a JSON object, got {type(raw).__name__}")
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        raise EventError(format_validation(exc)) from None
    try:
        size = len(orjson.dumps(event.detail))
    except orjson.JSONEncodeError as exc:
        raise EventError(f"event: detail: not storable as JSON ({exc})") from None
    if size > MAX_DETAIL_BYTES:
        raise EventError(f"event: detail: {size} bytes, more than {MAX_DETAIL_BYTES}")
    return event
