"""Bus consumers run as workers: the Lambda/SQS-trigger of the seeds as plain Python processes.

A product registers ``Subscription``s (topic, consumer group, handler). ``run_worker`` consumes
them in a loop: a handler that returns acks the delivery; one that raises is nacked with the
error text, so the bus redelivers it later and dead-letters it after its maximum deliveries.
Handlers must be idempotent: delivery is at least once.

A subscription may instead give a ``batch_handler``: it gets the whole consumed batch and
returns one entry per delivery, ``None`` (done, acked) or the exception that failed it (nacked);
if it raises, the whole batch is nacked. The acks of a batch go to the bus in one call.

When every subscription is empty the loop waits for the bus to change (``wait_for_change``,
which the SQLite bus answers from ``PRAGMA data_version`` within ~2 ms of another process's
commit), re-polling at least every ``idle_poll_s`` for redeliveries whose timeout ran out;
a bus without it is polled every ``idle_sleep_s``.
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
BatchHandler = Callable[[Sequence[Delivery]], Sequence[BaseException | None]]


@dataclass(frozen=True)
class Subscription:
    """One topic consumed by one group with one handler."""

    topic: str
    group: str
    handler: Handler
    batch_size: int = 50
    visibility_timeout_s: float = 30.0
    batch_handler: BatchHandler | None = None


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


def _outcomes(sub: Subscription, deliveries: list[Delivery]) -> list[BaseException | None]:
    if sub.batch_handler is None:
        out: list[BaseException | None] = []
        for delivery in deliveries:
            try:
                sub.handler(delivery)
            except Exception as exc:  # a failing handler must not stop the worker
                out.append(exc)
            else:
                out.append(None)
        return out
    try:
        errors = list(sub.batch_handler(deliveries))
    except Exception as exc:  # the whole batch goes back
        return [exc] * len(deliveries)
    if len(errors) != len(deliveries):
        failure = RuntimeError(f"batch handler gave {len(errors)} results for {len(deliveries)}")
        return [failure] * len(deliveries)
    return errors


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
        if not deliveries:
            continue
        acked: list[Delivery] = []
        for delivery, exc in zip(deliveries, _outcomes(sub, deliveries), strict=True):
            if exc is None:
                acked.append(delivery)
                continue
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
    idle_poll_s: float = 0.25,
    stats: WorkerStats | None = None,
) -> WorkerStats:
    """Consume until ``stop`` is set; when every subscription is empty, wait for the bus to
    change (or sleep ``idle_sleep_s`` on a bus that cannot tell)."""
    name = consumer or consumer_name()
    stats = stats or WorkerStats()
    waiter: Callable[[float], bool] | None = getattr(bus, "wait_for_change", None)
    log.info("worker_started", consumer=name, topics=[s.topic for s in subs])
    while not stop.is_set():
        if drain_once(bus, subs, name, stats) == 0:
            stats.idle_polls += 1
            if waiter is not None:
                waiter(idle_poll_s)
            else:
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
