"""The bus port: durable topics read by consumer groups, at-least-once, with a dead-letter topic.

Every backend (SQLite, Redis Streams) implements ``Bus`` and passes the one contract suite in
``tests/integration/test_bus_contract.py``. The models here are the only shapes that cross the
port; payloads are JSON objects, serialised at the adapter edge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DLQ_SUFFIX = ".dlq"
# Headers added to a dead-lettered message (the original headers are kept beside them).
HEADER_TOPIC = "dlq-topic"
HEADER_GROUP = "dlq-group"
HEADER_ID = "dlq-id"
HEADER_OFFSET = "dlq-offset"
HEADER_ATTEMPTS = "dlq-attempts"
HEADER_ERROR = "dlq-error"

MAX_BATCH = 10_000

PublishItem = Mapping[str, Any] | tuple[str | None, Mapping[str, Any]]


class BusError(Exception):
    """Base class of every error the bus raises on purpose."""


class InvalidBusInput(BusError, ValueError):
    """A caller passed something the bus cannot take (bad name, argument, payload or URL)."""


class BusClosed(BusError):
    """The bus was used after ``close()``."""


class Message(BaseModel):
    """One stored message; ``offset`` grows by one per message within its topic."""

    model_config = ConfigDict(frozen=True)

    topic: str
    id: str
    key: str | None = None
    payload: dict[str, Any]
    headers: dict[str, str] = Field(default_factory=dict)
    published_at: AwareDatetime
    offset: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One hand-out of a message to a consumer of a group; ``attempt`` counts from 1."""

    message: Message
    group: str
    consumer: str
    attempt: int
    receipt: str


@runtime_checkable
class Bus(Protocol):
    """Durable topics with consumer groups; the contract every backend keeps.

    Delivery is at least once: a consumed message stays invisible to its group for the
    visibility timeout and is handed out again unless acked in time. Handlers must be idempotent.
    """

    def publish(
        self,
        topic: str,
        payload: Mapping[str, Any],
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Append one message and return its id; a ``key`` already held by a retained message
        of the topic returns that message's id and stores nothing."""
        ...

    def publish_batch(self, topic: str, items: Sequence[PublishItem]) -> list[str]:
        """Append many messages atomically, in order; an item is a payload or ``(key, payload)``.
        Returns one id per item (the original id for a repeated key)."""
        ...

    def consume(
        self,
        topic: str,
        group: str,
        consumer: str,
        *,
        max_messages: int = 1,
        visibility_timeout_s: float = 30.0,
        wait_s: float = 0.0,
    ) -> list[Delivery]:
        """Claim up to ``max_messages`` for ``consumer`` of ``group``: due redeliveries first,
        then new messages in offset order. A new group starts at the oldest retained message.
        A message whose deliveries reached ``max_deliveries`` goes to ``{topic}.dlq`` instead.
        Waits up to ``wait_s`` seconds for something to arrive; returns ``[]`` if nothing did."""
        ...

    def ack(self, deliveries: Delivery | Sequence[Delivery]) -> None:
        """Mark messages done for their group; acking twice, late or after dead-lettering is a
        no-op."""
        ...

    def nack(self, delivery: Delivery, *, error: str | None = None, delay_s: float = 0.0) -> None:
        """Give a delivery back: it becomes visible again after ``delay_s`` (this attempt counts),
        or goes to the dead-letter topic if it was the last allowed one. Ignored when the
        delivery is stale (the message has been handed out again since)."""
        ...

    def replay(
        self,
        topic: str,
        *,
        since: datetime | None = None,
        from_offset: int | None = None,
        limit: int = 1000,
    ) -> list[Message]:
        """Read retained history in offset order (published at or after ``since``, offset at or
        after ``from_offset``), without touching any group."""
        ...

    def trim(self, topic: str, *, before: datetime) -> int:
        """Drop messages published before ``before`` (and their idempotency keys); returns how
        many were dropped."""
        ...

    def close(self) -> None:
        """Release connections; the bus is unusable afterwards."""
        ...


def poll(claim: Callable[[], list[Delivery]], wait_s: float) -> list[Delivery]:
    """Call ``claim`` until it returns something or ``wait_s`` passes, backing off to 50 ms."""
    found = claim()
    deadline = time.monotonic() + wait_s
    pause = 0.005
    while not found:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)
        found = claim()
    return found


@dataclass(frozen=True)
class GroupBacklog:
    """What one group of one topic still owes: messages not acknowledged (handed out or not)
    and the publish time of the oldest of them (``None`` when nothing is owed)."""

    topic: str
    group: str
    messages: int
    oldest: datetime | None


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return topic + DLQ_SUFFIX
