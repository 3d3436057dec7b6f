"""Following a topic without joining it: what serving processes use to hear about changes.

``EventTail`` reads what its topics receive from now on with ``Bus.replay`` from the last offset
seen, so no consumer group is created per process and nothing is left behind when a process
exits. Pricing's model loader tails the registry's events with it (``ssmas.pricing.serving.
hot_reload``), and so does the assistant's brain reloader (``ssmas.assistant.brain_reload``).
A bus failure is logged and that topic is tried again on the next poll.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from ssmas.core.bus.base import Bus, BusError

_log = structlog.get_logger(__name__)


class EventTail:
    """Reads what ``topics`` receive from now on (``Bus.replay`` from the last offset seen)."""

    def __init__(self, bus: Bus, topics: tuple[str, ...], *, lookback_s: float = 5.0) -> None:
        self.bus = bus
        # a little before now: a publisher's clock may be behind ours (an extra refresh is free)
        self._since = datetime.now(UTC) - timedelta(seconds=lookback_s)
        self._next: dict[str, int | None] = dict.fromkeys(topics)

    def poll(self) -> list[dict[str, Any]]:
        """Payloads published since the last call."""
        out: list[dict[str, Any]] = []
        for topic, offset in self._next.items():
            try:
                if offset is None:
                    got = self.bus.replay(topic, since=self._since, limit=500)
                else:
                    got = self.bus.replay(topic, from_offset=offset, limit=500)
            except BusError as exc:
                _log.warning("bus_tail_failed", topic=topic, error=str(exc)[:300])
                continue
            if got:
                self._next[topic] = got[-1].offset + 1
                out.extend(m.payload for m in got)
        return out
