"""Bus consumers run as workers: the Lambda/SQS-trigger of the seeds as plain Python processes.

A product registers ``Subscription``s (topic, consumer group, handler). ``run_worker`` consumes
them in a loop: a handler that returns acks the delivery; one that raises is nacked with the
error text, so the bus redelivers it later and dead-letters it after its maximum deliveries.
Handlers must be idempotent: delivery is at least once.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from ssmas.core.bus.base import Bus, Delivery

log = structlog.get_logger("ssmas.worker")

Handler = Callable[[Delivery], None]


@dataclass(frozen=True)
class Subscription:
    """One topic consumed by one group with one handler."""

    topic: str
    group: str
    handler: Handler
    batch_size: int = 50
    visibility_timeout_s: float = 30.0


@dataclass
class WorkerStats:
    """Counts kept by a running worker (read by tests, the dashboard and metrics)."""

    handled: int = 0
    failed: int = 0
    idle_polls: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def consumer_name() -> str:
    """A consumer id unique to this process on this host."""
    return f"{socket.gethostname()}-{os.getpid()}"


def drain_once(bus: Bus, subs: Sequence[Subscription], consumer: str, stats: WorkerStats) -> int:
    """Consume and handle at most one batch per subscription; returns how many were handled."""
    done = 0
    for sub in subs:
        deliveries = bus.consume(
            sub.topic,
            sub.group,
            consumer,
            max_messages=sub.batch_size,
            visibility_timeout_s=sub.visibility_timeout_s,
        )
        acked: list[Delivery] = []
        for delivery in deliveries:
            try:
                sub.handler(delivery)
            except Exception as exc:  # a failing handler must not stop the worker
                stats.failed += 1
                log.warning(
                    "handler_failed",
                    topic=sub.topic,
                    group=sub.group,
                    message_id=delivery.message.id,
                    attempt=delivery.attempt,
                    error=type(exc).__name__,
                )
                bus.nack(delivery, error=f"{type(exc).__name__}: {exc}")
            else:
                acked.append(delivery)
        if acked:
            bus.ack(acked)
            stats.handled += len(acked)
            stats.by_topic[sub.topic] = stats.by_topic.get(sub.topic, 0) + len(acked)
            done += len(acked)
    return done


def run_worker(
    bus: Bus,
    subs: Sequence[Subscription],
    stop: threading.Event,
    *,
    consumer: str | None = None,
    idle_sleep_s: float = 0.05,
    stats: WorkerStats | None = None,
) -> WorkerStats:
    """Consume until ``stop`` is set; sleeps briefly when every subscription is empty."""
    name = consumer or consumer_name()
    stats = stats or WorkerStats()
    log.info("worker_started", consumer=name, topics=[s.topic for s in subs])
    while not stop.is_set():
        if drain_once(bus, subs, name, stats) == 0:
            stats.idle_polls += 1
            stop.wait(idle_sleep_s)
    log.info("worker_stopped", consumer=name, handled=stats.handled, failed=stats.failed)
    return stats


def wait_until(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.02) -> bool:
    """Poll ``predicate`` until true or the timeout passes (for tests and demos)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return predicate()
