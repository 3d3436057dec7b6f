"""Reading and replaying dead letters: what an operator does after fixing the cause.

A dead-lettered message sits on ``{topic}.dlq`` with the headers the bus (or the product that
refused it) added: the topic it came from, the error, the attempts. ``dead_letters`` lists them;
``replay`` publishes chosen ones back to the topic they came from, keyed ``replay:<dlq id>`` so
replaying the same dead letter twice publishes it once (while the bus retains it). A dead letter
marked ``dlq-replayable: no`` (e.g. one bad element cut out of a webhook delivery, which is not
a delivery on its own) is listed but never replayed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ssmas.core.bus.base import (
    HEADER_ATTEMPTS,
    HEADER_ERROR,
    HEADER_TOPIC,
    Bus,
    Message,
    dlq_topic,
)

HEADER_REPLAYABLE = "dlq-replayable"
HEADER_REPLAY_OF = "dlq-replay-of"
REPLAY_KEY_PREFIX = "replay:"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message as an operator reads it."""

    id: str
    dlq: str
    origin: str
    error: str
    attempts: int | None
    published_at: datetime
    replayable: bool
    message: Message

    @classmethod
    def of(cls, message: Message, default_origin: str) -> DeadLetter:
        headers = message.headers
        attempts = headers.get(HEADER_ATTEMPTS)
        return cls(
            id=message.id,
            dlq=message.topic,
            origin=headers.get(HEADER_TOPIC) or default_origin,
            error=headers.get(HEADER_ERROR, ""),
            attempts=int(attempts) if attempts and attempts.isdigit() else None,
            published_at=message.published_at,
            replayable=headers.get(HEADER_REPLAYABLE, "yes") != "no",
            message=message,
        )


def dead_letters(
    bus: Bus, topics: Iterable[str], *, since: datetime | None = None, limit: int = 1000
) -> list[DeadLetter]:
    """The retained dead letters of ``topics`` (source topics, not ``.dlq`` names), oldest first
    per topic, at most ``limit`` per topic."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    found: list[DeadLetter] = []
    for topic in topics:
        for message in bus.replay(dlq_topic(topic), since=since, limit=limit):
            found.append(DeadLetter.of(message, topic))
    return found


@dataclass
class ReplayReport:
    """What a replay did: ids republished, and ids skipped with the reason."""

    replayed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def replay(
    bus: Bus, letters: Iterable[DeadLetter], *, only: Collection[str] | None = None
) -> ReplayReport:
    """Publish ``letters`` (all, or those whose id is in ``only``) back to their origin topic
    with their original payload and headers (the ``dlq-*`` ones dropped)."""
    report = ReplayReport()
    for letter in letters:
        if only is not None and letter.id not in only:
            continue
        if not letter.replayable:
            report.skipped[letter.id] = f"not replayable: {letter.error or 'marked so'}"
            continue
        headers = {k: v for k, v in letter.message.headers.items() if not k.startswith("dlq-")}
        headers[HEADER_REPLAY_OF] = letter.id
        bus.publish(
            letter.origin,
            letter.message.payload,
            key=REPLAY_KEY_PREFIX + letter.id,
            headers=headers,
        )
        report.replayed.append(letter.id)
    return report
