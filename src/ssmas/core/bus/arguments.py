"""Checks and normalisation of what callers pass to a bus, shared by every backend."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ssmas.core.bus.base import MAX_BATCH, Delivery, InvalidBusInput, PublishItem

_TOPIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
_LABEL = re.compile(r"[^\s\x00-\x1f]{1,200}")


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic name (letters, digits, ``_.-``, up to 200)."""
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise InvalidBusInput(f"invalid topic {topic!r}: use 1-200 letters, digits, '_', '.', '-'")
    return topic


def check_label(kind: str, value: str) -> str:
    """Return a group or consumer name if it is 1-200 printable characters without spaces."""
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        raise InvalidBusInput(f"invalid {kind} {value!r}: use 1-200 characters without spaces")
    return value


def check_consume_args(max_messages: int, visibility_timeout_s: float, wait_s: float) -> None:
    """Refuse consume arguments no backend can honour."""
    if not 1 <= max_messages <= MAX_BATCH:
        raise InvalidBusInput(f"max_messages must be within 1..{MAX_BATCH}, got {max_messages}")
    check_seconds("visibility_timeout_s", visibility_timeout_s, positive=True)
    check_seconds("wait_s", wait_s)


def check_seconds(name: str, value: float, *, positive: bool = False) -> float:
    """Return a finite, non-negative (or positive) number of seconds."""
    ok = isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        bound = "positive" if positive else ">= 0"
        raise InvalidBusInput(f"{name} must be a finite number {bound}")
    return float(value)


def check_limit(limit: int) -> int:
    """Return a replay limit within 1..100,000."""
    if not isinstance(limit, int) or not 1 <= limit <= 100_000:
        raise InvalidBusInput(f"limit must be within 1..100000, got {limit!r}")
    return limit


def check_offset(offset: int | None) -> int:
    """Return a replay start offset (``None`` means the oldest retained message)."""
    if offset is None:
        return 0
    if not isinstance(offset, int) or offset < 0:
        raise InvalidBusInput(f"from_offset must be a non-negative integer, got {offset!r}")
    return offset


def check_offsets(ids: Sequence[str], offsets: Sequence[int] | None) -> dict[str, int]:
    """``forget``'s optional hints: each message id with the offset ``replay`` gave it (the same
    number of each); ``{}`` when there are none."""
    if offsets is None:
        return {}
    if len(offsets) != len(ids):
        raise InvalidBusInput(f"forget got {len(offsets)} offsets for {len(ids)} ids")
    bad = [o for o in offsets if isinstance(o, bool) or not isinstance(o, int) or o < 0]
    if bad:
        raise InvalidBusInput(f"offsets must be non-negative integers, got {bad[0]!r}")
    return dict(zip(ids, offsets, strict=True))


def split_item(item: PublishItem) -> tuple[str | None, Mapping[str, Any]]:
    """Normalise a batch item into ``(key, payload)``."""
    if isinstance(item, tuple):
        if len(item) != 2 or not (item[0] is None or isinstance(item[0], str)):
            raise InvalidBusInput("a batch item tuple must be (key: str | None, payload)")
        return item[0], item[1]
    return None, item


def check_key(key: str | None) -> str | None:
    """Return an idempotency key if valid: ``None`` or 1-500 characters."""
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 500):
        raise InvalidBusInput("key must be None or a string of 1-500 characters")
    return key


def as_deliveries(deliveries: Delivery | Sequence[Delivery]) -> list[Delivery]:
    """Accept one delivery or many."""
    return [deliveries] if isinstance(deliveries, Delivery) else list(deliveries)
