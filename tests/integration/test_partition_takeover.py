"""A partition changing hands keeps each key's messages in order: the interleavings that broke it.

Worker loops are stepped by hand on one real bus (SQLite file, Redis) and one lease table, each
with clocks the test moves, so the steps happen in exactly the order that reordered a customer's
messages in the scale-out benchmark (issue #13):

- a worker dies holding a batch; the survivor takes its partitions over and, before it has read
  them, a replacement worker joins and is handed one of them;
- a worker stalls holding a batch, its lease runs out and another takes the partition over; then
  the stalled one wakes up believing it still owns the partition.

In both, every customer's messages must be handled in the order they were published, each once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.bus import Bus, Delivery
from ssmas.core.db import make_engine, make_session_factory, upgrade
from ssmas.core.leases import LeaseStore
from ssmas.core.worker import (
    Subscription,
    WorkerLoop,
    expand,
    partition_for,
    partition_leases,
    partition_topic,
)

TOPIC = "chat"
GROUP = "replies"
PARTS = 2
SCOPE = "takeover"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'leases.db'}"
    upgrade(url)
    return make_session_factory(make_engine(url))


def customer_in(partition: int) -> str:
    return next(f"cust-{n}" for n in range(1000) if partition_for(f"cust-{n}", PARTS) == partition)


class Recorder:
    """The handler: which worker handled which message of which customer, in order."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, str, int]] = []

    def __call__(self, delivery: Delivery) -> None:
        payload = delivery.message.payload
        self.handled.append((delivery.consumer, payload["who"], payload["n"]))

    def order_of(self, who: str) -> list[int]:
        return [n for _, w, n in self.handled if w == who]


def publish(bus: Bus, who: str, n: int) -> None:
    bus.publish(partition_topic(TOPIC, partition_for(who, PARTS)), {"who": who, "n": n})


def worker(
    bus: Bus, sessions: sessionmaker[Session], name: str, clock: Clock, handler: Recorder
) -> WorkerLoop:
    sub = Subscription(
        TOPIC, GROUP, handler, batch_size=10, visibility_timeout_s=30.0, partitions=PARTS
    )
    loop = WorkerLoop(bus, [sub], name, scope=SCOPE)
    store = LeaseStore(sessions, clock)
    loop.owner = partition_leases(bus, loop.parts, store, SCOPE, name, ttl_s=3.0, clock=clock)
    return loop


def read_in_flight(bus: Bus, consumer: str) -> list[Delivery]:
    """What a worker's step reads before it handles anything (the batch it dies or stalls with)."""
    sub = Subscription(TOPIC, GROUP, lambda d: None, partitions=PARTS)
    out: list[Delivery] = []
    for part in expand(sub):
        out += bus.consume(part.topic, GROUP, consumer, max_messages=10, visibility_timeout_s=30.0)
    return out


def run_until_quiet(*loops: WorkerLoop) -> None:
    for _ in range(20):
        if sum(loop.step() for loop in loops) == 0:
            return


def test_a_dead_workers_batch_comes_first_when_its_partition_is_handed_on(
    bus: Bus, sessions: sessionmaker[Session]
) -> None:
    clock, handler = Clock(), Recorder()
    x, y = customer_in(0), customer_in(1)
    dead = worker(bus, sessions, "w1", clock, handler)
    dead.step()  # alone: it leases (and reserves) both partitions
    assert dead.owner is not None and len(dead.owner.owned()) == PARTS
    publish(bus, x, 0)
    publish(bus, y, 0)
    assert len(read_in_flight(bus, "w1")) == 2  # ...then it is SIGKILLed holding them
    publish(bus, x, 1)
    publish(bus, y, 1)

    clock.now += 4.0  # its leases run out
    survivor = worker(bus, sessions, "w2", clock, handler)
    replacement = worker(bus, sessions, "w3", clock, handler)
    assert survivor.owner is not None and replacement.owner is not None
    survivor.owner.refresh(force=True)  # takes both partitions over from w1
    replacement.owner.refresh(force=True)  # joins: two members now
    survivor.owner.refresh(force=True)  # gives one back before it has read it
    replacement.owner.refresh(force=True)  # and the newcomer takes it
    owners = LeaseStore(sessions, clock).live(f"{SCOPE}:{TOPIC}")
    assert sorted(owners.values()) == ["w2", "w3"]

    run_until_quiet(survivor, replacement)
    assert handler.order_of(x) == [0, 1]
    assert handler.order_of(y) == [0, 1]
    assert {who for who, _, _ in handler.handled} <= {"w2", "w3"}


def test_a_stalled_worker_cannot_read_a_partition_taken_over_from_it(
    bus: Bus, sessions: sessionmaker[Session]
) -> None:
    frozen, clock, handler = Clock(), Clock(), Recorder()
    x = customer_in(0)
    stalled = worker(bus, sessions, "w1", frozen, handler)
    stalled.step()
    publish(bus, x, 0)
    [held] = read_in_flight(bus, "w1")  # it read message 0, then stalled (its clock stood still)

    clock.now += 4.0  # for everyone else its leases ran out
    other = worker(bus, sessions, "w2", clock, handler)
    assert other.owner is not None
    other.owner.refresh(force=True)
    assert len(other.owner.owned()) == PARTS
    publish(bus, x, 1)

    # It wakes up: by its own clock nothing expired, so it reads "its" partitions again and
    # gives message 0 back as failed; the bus serves it nothing and ignores the nack.
    assert stalled.owner is not None and len(stalled.owner.owned()) == PARTS
    assert stalled.step() == 0
    bus.nack(held, delay_s=300)
    run_until_quiet(other)
    assert handler.order_of(x) == [0, 1]
    assert [who for who, _, _ in handler.handled] == ["w2", "w2"]

    frozen.now = clock.now  # its next renewal fails: it learns the partitions are gone
    stalled.owner.refresh(force=True)
    assert stalled.owner.owned() == []


def test_a_long_step_keeps_its_partitions_but_a_stuck_loop_loses_them(
    bus: Bus, sessions: sessionmaker[Session]
) -> None:
    clock, handler = Clock(), Recorder()
    busy = worker(bus, sessions, "w1", clock, handler)
    busy.clock = clock
    busy.step()
    other = worker(bus, sessions, "w2", clock, handler)
    assert other.owner is not None and busy.owner is not None
    busy.step_began = clock.now  # a step begins and runs long (a big batch, a slow database)
    for _ in range(20):  # its heartbeat renews every second meanwhile
        clock.now += 1.0
        assert busy.heartbeat(max_step_s=60.0)
        other.owner.refresh(force=True)
        assert other.owner.owned() == []
    clock.now += 41.0  # 61 s in the same step: stuck, not vouched for any more
    assert not busy.heartbeat(max_step_s=60.0)
    clock.now += 4.0
    other.owner.refresh(force=True)
    assert len(other.owner.owned()) == PARTS
