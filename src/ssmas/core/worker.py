"""Bus consumers run as workers: the Lambda/SQS-trigger of the seeds as plain Python processes.

A product registers ``Subscription``s (topic, consumer group, handler). ``run_worker`` consumes
them in a loop: a handler that returns acks the delivery; one that raises is nacked with the
error text, so the bus redelivers it later and dead-letters it after its maximum deliveries.
Handlers must be idempotent: delivery is at least once.

A subscription may instead give a ``batch_handler``: it gets the whole consumed batch and
returns one entry per delivery, ``None`` (done, acked) or the exception that failed it (nacked);
if it raises, the whole batch is nacked. The acks of a batch go to the bus in one call.

A subscription with ``partitions`` > 0 reads a topic split in that many partition topics
(``partition_topic``; publishers pick one per key with ``partition_for``). Given a
``LeaseStore``, ``run_worker`` consumes only the partitions this process leases
(``ssmas.core.leases.PartitionLeases``): one process per partition, so one key's messages are
handled in order by one consumer however many processes run. Without one, it consumes them all.

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
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import structlog

from ssmas.core import metrics
from ssmas.core.bus.base import Bus, Delivery
from ssmas.core.leases import LeaseStore, PartitionLeases

log = structlog.get_logger("ssmas.worker")

HANDLING_SECONDS = metrics.counter(
    "worker",
    "handling_seconds",
    "Seconds spent in handlers, per topic and group (divided by the bus's acked + nacked "
    "deliveries: the mean handling time)",
    labels=("topic", "group"),
)
HEARTBEAT = metrics.gauge(
    "worker",
    "heartbeat",
    "timestamp_seconds",
    "When a worker process last saw every one of its loops alive (its supervisor's heartbeat)",
)

Handler = Callable[[Delivery], None]
BatchHandler = Callable[[Sequence[Delivery]], Sequence[BaseException | None]]


@dataclass(frozen=True)
class Subscription:
    """One topic consumed by one group with one handler.

    ``partitions`` > 0: the topic is split in that many partition topics, each consumed by
    one process at a time (``partition_of`` names the base topic of one expanded partition).
    """

    topic: str
    group: str
    handler: Handler
    batch_size: int = 50
    visibility_timeout_s: float = 30.0
    batch_handler: BatchHandler | None = None
    partitions: int = 0
    partition_of: str | None = None


def partition_topic(topic: str, index: int) -> str:
    """The topic of partition ``index`` of ``topic`` (partition 0 is the topic itself)."""
    return topic if index == 0 else f"{topic}.p{index}"


def partition_for(key: str, partitions: int) -> int:
    """The partition of ``key`` among ``partitions`` (stable across processes and hosts)."""
    if partitions <= 1:
        return 0
    return zlib.crc32(key.encode("utf-8")) % partitions


def expand(sub: Subscription) -> list[Subscription]:
    """One subscription per partition of a partitioned ``sub`` (``sub`` itself otherwise)."""
    if sub.partitions <= 0 or sub.partition_of is not None:
        return [sub]
    return [
        replace(sub, topic=partition_topic(sub.topic, k), partition_of=sub.topic)
        for k in range(sub.partitions)
    ]


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
    for sub in [part for s in subs for part in expand(s)]:
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
        started = time.perf_counter()
        outcomes = _outcomes(sub, deliveries)
        HANDLING_SECONDS.labels(sub.topic, sub.group).inc(time.perf_counter() - started)
        for delivery, exc in zip(deliveries, outcomes, strict=True):
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
            topic = sub.partition_of or sub.topic
            stats.by_topic[topic] = stats.by_topic.get(topic, 0) + len(acked)
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
    leases: LeaseStore | None = None,
    scope: str = "workers",
    lease_ttl_s: float = 3.0,
) -> WorkerStats:
    """Consume until ``stop`` is set; when every subscription is empty, wait for the bus to
    change (or sleep ``idle_sleep_s`` on a bus that cannot tell).

    With ``leases``, partitioned subscriptions are consumed only on the partitions this
    process leases within ``scope`` (processes sharing a scope share the partitions)."""
    name = consumer or consumer_name()
    stats = stats or WorkerStats()
    waiter: Callable[[float], bool] | None = getattr(bus, "wait_for_change", None)
    shared = [s for s in subs if s.partitions <= 0]
    parts = [p for s in subs if s.partitions > 0 for p in expand(s)]
    owner: PartitionLeases | None = None
    if leases is not None and parts:
        owner = PartitionLeases(
            leases,
            scope,
            [f"{scope}:{p.topic}" for p in parts],
            name,
            ttl_s=lease_ttl_s,
            settle_s=max(p.visibility_timeout_s for p in parts),
            renew_s=lease_ttl_s / 3,
        )
    log.info("worker_started", consumer=name, topics=[s.topic for s in subs])
    try:
        while not stop.is_set():
            active = [*shared, *parts]
            if owner is not None:
                try:
                    owner.refresh()
                except Exception as exc:  # the database is away: keep what we hold, retry
                    log.warning("lease_refresh_failed", error=type(exc).__name__)
                mine = set(owner.owned())
                active = [*shared, *(p for p in parts if f"{scope}:{p.topic}" in mine)]
            if drain_once(bus, active, name, stats) == 0:
                stats.idle_polls += 1
                if waiter is not None:
                    waiter(idle_poll_s)
                else:
                    stop.wait(idle_sleep_s)
    finally:
        if owner is not None:
            try:
                owner.release_all()
            except Exception as exc:
                log.warning("lease_release_failed", error=type(exc).__name__)
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
