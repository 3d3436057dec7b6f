"""Bus consumers run as workers: the Lambda/SQS-trigger of the seeds as plain Python processes.

A product registers ``Subscription``s (topic, consumer group, handler). ``run_worker`` consumes
them in a loop: a handler that returns acks the delivery; one that raises is nacked with the
error text, so the bus redelivers it later and dead-letters it after its maximum deliveries.
Handlers must be idempotent: delivery is at least once.

A handler that raises ``RetryLater`` has its delivery given back to be handed out again after
the delay it names (something it waits for, another process's claim, will be over by then);
the worker goes on with other messages meanwhile.

A subscription may instead give a ``batch_handler``: it gets the whole consumed batch and
returns one entry per delivery, ``None`` (done, acked) or the exception that failed it (nacked);
if it raises, the whole batch is nacked. The acks of a batch go to the bus in one call.

A subscription with ``partitions`` > 0 reads a topic split in that many partition topics
(``partition_topic``; publishers pick one per key with ``partition_for``). Given a
``LeaseStore``, ``run_worker`` consumes only the partitions this process leases
(``ssmas.core.leases.PartitionLeases``): one process per partition, so one key's messages are
handled in order by one consumer however many processes run. Each partition it takes it first
reserves on the bus (``reserve``, both backends): the bus then serves that partition to this
consumer only, and hands it what the previous owner held (a process that died or stalled)
before anything newer. Without a ``LeaseStore``, it consumes them all.

Leases are renewed between steps and, while a step runs, by a heartbeat thread, so a long batch
does not hand the partitions to another process; a loop stuck in one step for longer than
``max_step_s`` stops being vouched for and its partitions move on.

Deliveries are handled in offset order within a batch (redeliveries may come out of the bus in
deadline order).

A bus with ``with_work`` (SQLite) is asked once per step which of the queues have something to
hand out, and only those are consumed (each woken step used to cost a read per queue).

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


class RetryLater(Exception):
    """Give this delivery back, to be handed out again after ``delay_s`` (not before)."""

    def __init__(self, message: str, delay_s: float) -> None:
        super().__init__(message)
        self.delay_s = max(0.0, delay_s)


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
    """Consume and handle at most one batch per subscription; returns how many were handled.

    The partitions of one subscription with a batch handler are handled as one batch (each
    partition's deliveries in offset order, partitions one after another): a worker holding
    several partitions pays the handler's per-batch costs once a step, not once a partition."""
    done = 0
    parts = [part for s in subs for part in expand(s)]
    with_work: Callable[[list[tuple[str, str]]], set[tuple[str, str]]] | None = getattr(
        bus, "with_work", None
    )
    if callable(with_work) and len(parts) > 1:  # one read instead of one per queue
        ready = with_work([(p.topic, p.group) for p in parts])
        parts = [p for p in parts if (p.topic, p.group) in ready]
    for group in _batches(parts):
        taken: list[tuple[Subscription, list[Delivery]]] = []
        for sub in group:
            deliveries = bus.consume(
                sub.topic,
                sub.group,
                consumer,
                max_messages=sub.batch_size,
                visibility_timeout_s=sub.visibility_timeout_s,
            )
            if deliveries:
                deliveries.sort(key=lambda d: d.message.offset)
                taken.append((sub, deliveries))
        if taken:
            done += _handle(bus, taken, stats)
    return done


def _batches(parts: Sequence[Subscription]) -> list[list[Subscription]]:
    """``parts`` in order, the partitions of one batch-handled subscription together."""
    groups: list[list[Subscription]] = []
    joined: dict[tuple[str, str], list[Subscription]] = {}
    for sub in parts:
        if sub.partition_of is not None and sub.batch_handler is not None:
            key = (sub.partition_of, sub.group)
            if key in joined:
                joined[key].append(sub)
                continue
            joined[key] = [sub]
            groups.append(joined[key])
        else:
            groups.append([sub])
    return groups


def _handle(bus: Bus, taken: list[tuple[Subscription, list[Delivery]]], stats: WorkerStats) -> int:
    """Handle the deliveries taken from one subscription's partitions as one batch; ack what
    succeeded, nack the rest. Returns how many were acknowledged."""
    lead = taken[0][0]
    batch = [d for _, deliveries in taken for d in deliveries]
    started = time.perf_counter()
    outcomes = _outcomes(lead, batch)
    elapsed = time.perf_counter() - started
    acked: list[Delivery] = []
    at = 0
    for sub, deliveries in taken:
        share = elapsed * len(deliveries) / len(batch)
        HANDLING_SECONDS.labels(sub.topic, sub.group).inc(share)
        handled = 0
        for delivery, exc in zip(deliveries, outcomes[at : at + len(deliveries)], strict=True):
            if exc is None:
                acked.append(delivery)
                handled += 1
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
            delay = exc.delay_s if isinstance(exc, RetryLater) else 0.0
            bus.nack(delivery, error=f"{type(exc).__name__}: {exc}", delay_s=delay)
        at += len(deliveries)
        if handled:
            topic = sub.partition_of or sub.topic
            stats.by_topic[topic] = stats.by_topic.get(topic, 0) + handled
    if acked:
        bus.ack(acked)
        stats.handled += len(acked)
    return len(acked)


@dataclass
class WorkerLoop:
    """One worker's consuming, a step at a time (``run_worker`` steps it until stopped).

    With ``owner`` (its partition leases), partitioned subscriptions are consumed only on the
    partitions it owns when the step begins."""

    bus: Bus
    subs: Sequence[Subscription]
    consumer: str
    stats: WorkerStats = field(default_factory=WorkerStats)
    owner: PartitionLeases | None = None
    scope: str = "workers"
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.shared = [s for s in self.subs if s.partitions <= 0]
        self.parts = [p for s in self.subs if s.partitions > 0 for p in expand(s)]
        self.step_began = self.clock()

    def active(self) -> list[Subscription]:
        """The subscriptions to read now (leases renewed first, at most every ``renew_s``)."""
        if self.owner is None:
            return [*self.shared, *self.parts]
        try:
            self.owner.refresh()
        except Exception as exc:  # the database is away: keep what we hold, retry
            log.warning("lease_refresh_failed", error=type(exc).__name__)
        mine = set(self.owner.owned())
        return [*self.shared, *(p for p in self.parts if f"{self.scope}:{p.topic}" in mine)]

    def step(self) -> int:
        """Renew leases, then consume and handle one batch per active subscription; returns
        how many deliveries were handled."""
        self.step_began = self.clock()
        return drain_once(self.bus, self.active(), self.consumer, self.stats)

    def heartbeat(self, max_step_s: float) -> bool:
        """Renew the leases held if the current step began less than ``max_step_s`` ago (a
        loop stuck longer is not vouched for); returns whether it renewed."""
        if self.owner is None or self.clock() - self.step_began >= max_step_s:
            return False
        try:
            self.owner.keep_alive()
        except Exception as exc:  # the database is away: the next beat tries again
            log.warning("lease_heartbeat_failed", error=type(exc).__name__)
            return False
        return True

    def beat_until(self, stop: threading.Event, max_step_s: float) -> threading.Thread:
        """Run ``heartbeat`` every ``renew_s`` on a thread until ``stop`` is set."""
        assert self.owner is not None
        every = self.owner.renew_s

        def beat() -> None:
            while not stop.wait(every):
                self.heartbeat(max_step_s)

        thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Give the partitions back (a clean stop)."""
        if self.owner is None:
            return
        try:
            self.owner.release_all()
        except Exception as exc:
            log.warning("lease_release_failed", error=type(exc).__name__)


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
    max_step_s: float = 60.0,
) -> WorkerStats:
    """Consume until ``stop`` is set; when every subscription is empty, wait for the bus to
    change (or sleep ``idle_sleep_s`` on a bus that cannot tell).

    With ``leases``, partitioned subscriptions are consumed only on the partitions this
    process leases within ``scope`` (processes sharing a scope share the partitions); the
    leases are kept during a step up to ``max_step_s`` long."""
    name = consumer or consumer_name()
    waiter: Callable[[float], bool] | None = getattr(bus, "wait_for_change", None)
    loop = WorkerLoop(bus, subs, name, stats or WorkerStats(), scope=scope)
    if leases is not None and loop.parts:
        loop.owner = partition_leases(bus, loop.parts, leases, scope, name, lease_ttl_s)
    beating = threading.Event()
    heart = loop.beat_until(beating, max_step_s) if loop.owner is not None else None
    log.info("worker_started", consumer=name, topics=[s.topic for s in subs])
    try:
        while not stop.is_set():
            if loop.step() == 0:
                loop.stats.idle_polls += 1
                if waiter is not None:
                    waiter(idle_poll_s)
                else:
                    stop.wait(idle_sleep_s)
    finally:
        beating.set()
        if heart is not None:
            heart.join(10)  # no beat after the leases are given back
        loop.close()
    log.info("worker_stopped", consumer=name, handled=loop.stats.handled, failed=loop.stats.failed)
    return loop.stats


def partition_leases(
    bus: Bus,
    parts: Sequence[Subscription],
    leases: LeaseStore,
    scope: str,
    consumer: str,
    ttl_s: float = 3.0,
    clock: Callable[[], float] = time.monotonic,
) -> PartitionLeases:
    """The leases of expanded partition subscriptions ``parts`` for ``consumer``: each taken
    partition is reserved on the bus for it before it is read (given back: unreserved)."""
    by_name = {f"{scope}:{p.topic}": p for p in parts}
    reserve: Callable[[str, str, str], int] | None = getattr(bus, "reserve", None)
    unreserve: Callable[[str, str, str], None] | None = getattr(bus, "unreserve", None)

    def take(name: str) -> None:
        assert reserve is not None
        sub = by_name[name]
        held = reserve(sub.topic, sub.group, consumer)
        log.info("partition_reserved", topic=sub.topic, group=sub.group, taken_back=held)

    def give(name: str) -> None:
        if unreserve is not None:
            sub = by_name[name]
            unreserve(sub.topic, sub.group, consumer)

    return PartitionLeases(
        leases,
        scope,
        list(by_name),
        consumer,
        ttl_s=ttl_s,
        settle_s=max(p.visibility_timeout_s for p in parts),
        renew_s=ttl_s / 3,
        clock=clock,
        on_take=take if callable(reserve) else None,
        on_release=give,
        # shares are fair per queue: a worker holding the router's one partition still takes
        # its half of the text partitions
        pool=lambda name: (
            f"{by_name[name].partition_of or by_name[name].topic}|{by_name[name].group}"
        ),
    )


def wait_until(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.02) -> bool:
    """Poll ``predicate`` until true or the timeout passes (for tests and demos)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return predicate()
