"""How messages are written to and read back from a backend: JSON text and epoch microseconds."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import pydantic_core

from ssmas.core.bus.base import (
    HEADER_ATTEMPTS,
    HEADER_ERROR,
    HEADER_GROUP,
    HEADER_ID,
    HEADER_OFFSET,
    HEADER_TOPIC,
    InvalidBusInput,
    Message,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_message_id() -> str:
    """A random 128-bit message id as 32 hex characters."""
    return os.urandom(16).hex()


def encode_payload(payload: Mapping[str, Any]) -> str:
    """JSON text of a payload object; datetimes, UUIDs, decimals and models are accepted."""
    if not isinstance(payload, Mapping):
        raise InvalidBusInput(f"payload must be a mapping, got {type(payload).__name__}")
    try:
        body = payload if type(payload) is dict else dict(payload)
        return pydantic_core.to_json(body).decode()
    except pydantic_core.PydanticSerializationError as exc:
        raise InvalidBusInput(f"payload is not JSON-serialisable: {exc}") from None


def encode_headers(headers: Mapping[str, str] | None) -> str:
    """JSON text of string headers."""
    if not headers:
        return "{}"
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise InvalidBusInput("headers must map strings to strings")
    return pydantic_core.to_json(dict(headers)).decode()


def to_micros(moment: datetime, name: str) -> int:
    """Microseconds since the epoch of a timezone-aware datetime."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidBusInput(f"{name} must be a timezone-aware datetime")
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    """The UTC datetime of microseconds since the epoch (exact, no float rounding)."""
    return EPOCH + timedelta(microseconds=micros)


def stored_message(
    topic: str,
    message_id: str,
    key: str | None,
    payload: str,
    headers: str,
    published_us: int,
    offset: int,
) -> Message:
    """Rebuild and validate a message read back from a backend.

    The stored payload and headers are already JSON, so they are spliced into one JSON document
    that pydantic parses and validates in a single pass (the hot path of every consume).
    """
    document = (
        f'{{"topic":{_json_text(topic)},"id":{_json_text(message_id)},'
        f'"key":{"null" if key is None else _json_text(key)},"payload":{payload},'
        f'"headers":{headers},"published_at":"{_iso(published_us)}","offset":{offset}}}'
    )
    return Message.model_validate_json(document)


def _json_text(value: str) -> str:
    if '"' in value or "\\" in value or not value.isprintable():
        return json.dumps(value)
    return f'"{value}"'


@lru_cache(maxsize=1024)
def _iso(micros: int) -> str:
    # A batch shares one publish time, so consecutive messages mostly hit this cache.
    return from_micros(micros).isoformat()


def dead_letter_headers(
    headers: Mapping[str, str],
    *,
    message: tuple[str, str, int],
    group: str,
    attempts: int,
    error: str | None,
) -> dict[str, str]:
    """Headers of a dead-lettered copy: the originals plus where it came from and why."""
    topic, message_id, offset = message
    out = dict(headers)
    out.update(
        {
            HEADER_TOPIC: topic,
            HEADER_GROUP: group,
            HEADER_ID: message_id,
            HEADER_OFFSET: str(offset),
            HEADER_ATTEMPTS: str(attempts),
        }
    )
    if error:
        out[HEADER_ERROR] = error
    return out
