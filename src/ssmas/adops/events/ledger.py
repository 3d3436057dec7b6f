"""Which deliveries are done, kept on the bus: one keyed message per (event, rule, target).

The bus stores a key once, so recording twice is harmless; every process reads the topic
forward from where it last stopped before checking a key, so a delivery done by a worker that
was killed afterwards is seen by the one that picks its event up again. Nothing else holds the
state: a new process rebuilds it by reading the topic.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Literal

from ssmas.core.bus import Bus

__all__ = ["DELIVERED_TOPIC", "DeliveryLedger"]

DELIVERED_TOPIC = "adops.events.delivered"
Outcome = Literal["delivered", "dead", "skipped"]


class DeliveryLedger:
    """Delivery keys already done (delivered or dead-lettered), read from and written to the
    ``adops.events.delivered`` topic."""

    def __init__(self, bus: Bus, topic: str = DELIVERED_TOPIC) -> None:
        self.bus = bus
        self.topic = topic
        self._done: dict[str, str] = {}
        self._next_offset = 0
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Read what other processes recorded since the last call; returns how many."""
        read = 0
        with self._lock:
            while True:
                batch = self.bus.replay(self.topic, from_offset=self._next_offset, limit=1000)
                for message in batch:
                    key = message.payload.get("key")
                    if isinstance(key, str):
                        self._done[key] = str(message.payload.get("outcome", "delivered"))
                    self._next_offset = message.offset + 1
                read += len(batch)
                if len(batch) < 1000:
                    return read

    def prune(self, before: datetime) -> int:
        """Drop records published before ``before`` from the topic, and start this process's
        view again from what remains; returns how many records went."""
        dropped = self.bus.trim(self.topic, before=before)
        with self._lock:
            self._done = {}
            self._next_offset = 0
        self.refresh()
        return dropped

    def outcome(self, key: str) -> str | None:
        """How ``key`` ended (``delivered`` / ``dead``), or ``None`` if it is not done (as far
        as the last :meth:`refresh` knows)."""
        return self._done.get(key)

    def record(self, key: str, outcome: Outcome, *, rule: str, target: str, event_id: str) -> None:
        """Mark ``key`` done; durable on the bus before this returns."""
        payload = {
            "key": key,
            "outcome": outcome,
            "rule": rule,
            "target": target,
            "event_id": event_id,
            "at": datetime.now(UTC).isoformat(),
        }
        self.bus.publish(self.topic, payload, key=key)
        with self._lock:
            self._done[key] = outcome
