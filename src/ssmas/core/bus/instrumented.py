"""Prometheus figures for any bus backend, as a wrapper that keeps the ``Bus`` contract.

``InstrumentedBus(bus)`` counts, per topic, the messages published, the deliveries handed out
(per group, and how many of them were redeliveries), the acks and the nacks, and times each
publish and consume call. ``bus_from_settings`` wraps the platform's bus in it, so every process
exposes ``ssmas_bus_*`` on its ``/metrics``; ``open_bus`` returns the bare backend. Methods a
backend has beyond the protocol (``try_publish_batch`` of the SQLite bus) stay reachable, the
non-blocking publish counted like the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from time import perf_counter
from typing import Any

from prometheus_client import Counter

from ssmas.core import metrics
from ssmas.core.bus.base import Bus, Delivery, Message, PublishItem

__all__ = ["InstrumentedBus"]

PUBLISHED = metrics.counter("bus", "published", "Messages published", labels=("topic",))
DELIVERED = metrics.counter(
    "bus", "delivered", "Deliveries handed to consumers", labels=("topic", "group")
)
REDELIVERED = metrics.counter(
    "bus",
    "redelivered",
    "Deliveries that were a second or later attempt",
    labels=("topic", "group"),
)
ACKED = metrics.counter("bus", "acked", "Deliveries acknowledged", labels=("topic", "group"))
NACKED = metrics.counter("bus", "nacked", "Deliveries given back", labels=("topic", "group"))
CALL_SECONDS = metrics.histogram(
    "bus", "call", "Duration of a bus call", labels=("operation",), unit="seconds"
)


class InstrumentedBus:
    """A ``Bus`` that records Prometheus figures around another ``Bus``."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self._published: dict[str, Counter] = {}
        self._timers = {op: CALL_SECONDS.labels(op) for op in ("publish", "consume", "ack")}

    def _count_published(self, topic: str, n: int) -> None:
        child = self._published.get(topic)
        if child is None:
            child = self._published[topic] = PUBLISHED.labels(topic)
        child.inc(n)

    def publish(
        self,
        topic: str,
        payload: Mapping[str, Any],
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        started = perf_counter()
        message_id = self.inner.publish(topic, payload, key=key, headers=headers)
        self._timers["publish"].observe(perf_counter() - started)
        self._count_published(topic, 1)
        return message_id

    def publish_batch(self, topic: str, items: Sequence[PublishItem]) -> list[str]:
        started = perf_counter()
        ids = self.inner.publish_batch(topic, items)
        self._timers["publish"].observe(perf_counter() - started)
        self._count_published(topic, len(ids))
        return ids

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
        started = perf_counter()
        found = self.inner.consume(
            topic,
            group,
            consumer,
            max_messages=max_messages,
            visibility_timeout_s=visibility_timeout_s,
            wait_s=wait_s,
        )
        if found:
            # Only calls that returned something: an empty wait is idle time, not latency.
            self._timers["consume"].observe(perf_counter() - started)
            DELIVERED.labels(topic, group).inc(len(found))
            again = sum(1 for d in found if d.attempt > 1)
            if again:
                REDELIVERED.labels(topic, group).inc(again)
        return found

    def ack(self, deliveries: Delivery | Sequence[Delivery]) -> None:
        many = [deliveries] if isinstance(deliveries, Delivery) else list(deliveries)
        started = perf_counter()
        self.inner.ack(many)
        self._timers["ack"].observe(perf_counter() - started)
        counts: dict[tuple[str, str], int] = {}
        for d in many:
            label = (d.message.topic, d.group)
            counts[label] = counts.get(label, 0) + 1
        for (topic, group), n in counts.items():
            ACKED.labels(topic, group).inc(n)

    def nack(self, delivery: Delivery, *, error: str | None = None, delay_s: float = 0.0) -> None:
        self.inner.nack(delivery, error=error, delay_s=delay_s)
        NACKED.labels(delivery.message.topic, delivery.group).inc()

    def replay(
        self,
        topic: str,
        *,
        since: datetime | None = None,
        from_offset: int | None = None,
        limit: int = 1000,
    ) -> list[Message]:
        return self.inner.replay(topic, since=since, from_offset=from_offset, limit=limit)

    def trim(self, topic: str, *, before: datetime) -> int:
        return self.inner.trim(topic, before=before)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name == "try_publish_batch" and callable(attribute):
            return self._counted_try(attribute)
        return attribute

    def _counted_try(self, attempt: Callable[..., list[str] | None]) -> Callable[..., Any]:
        def try_publish_batch(topic: str, items: Sequence[PublishItem]) -> list[str] | None:
            ids = attempt(topic, items)
            if ids is not None:
                self._count_published(topic, len(ids))
            return ids

        return try_publish_batch
