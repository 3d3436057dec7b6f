"""A worker holding several partitions of a batch-handled subscription hands them to the
handler as one batch a step (each partition in order), acks what succeeded and gives back what
failed, on both buses; other subscriptions keep a batch of their own."""

from __future__ import annotations

from collections.abc import Sequence

from ssmas.core.bus import Bus, Delivery
from ssmas.core.worker import (
    Subscription,
    WorkerStats,
    drain_once,
    expand,
    partition_for,
    partition_topic,
)

PARTS = 3


def _key_in(partition: int) -> str:
    return next(f"c{n}" for n in range(1000) if partition_for(f"c{n}", PARTS) == partition)


def test_partitions_of_a_batch_subscription_are_one_batch_a_step(bus: Bus) -> None:
    batches: list[list[tuple[str, int]]] = []

    def handle_batch(deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        batches.append([(d.message.topic, d.message.payload["n"]) for d in deliveries])
        return [RuntimeError("bad") if d.message.payload["n"] == 4 else None for d in deliveries]

    def handle_one(delivery: Delivery) -> None:
        raise AssertionError("the batch handler is used")

    for n in range(6):  # two messages per partition, in order
        key = _key_in(n % PARTS)
        topic = partition_topic("texts", partition_for(key, PARTS))
        bus.publish(topic, {"n": n, "key": key})
    bus.publish("other", {"n": 99})
    others: list[int] = []
    subs = [
        Subscription("texts", "g", handle_one, 10, 30.0, handle_batch, partitions=PARTS),
        Subscription("other", "g", lambda d: others.append(d.message.payload["n"])),
    ]
    stats = WorkerStats()
    assert drain_once(bus, subs, "w", stats) == 6  # 5 of the partitions' 6, and "other"'s 1
    assert len(batches) == 1
    (batch,) = batches
    assert sorted(n for _, n in batch) == list(range(6))
    for k in range(PARTS):  # each partition's messages together and in order
        mine = [n for topic, n in batch if topic == partition_topic("texts", k)]
        assert mine == sorted(mine) and len(mine) == 2
    assert others == [99]
    assert stats.failed == 1 and stats.by_topic == {"texts": 5, "other": 1}
    # the failed one comes back alone; nothing acknowledged comes back
    assert drain_once(bus, subs, "w", stats) == 0
    assert batches[1:] == [[(partition_topic("texts", 4 % PARTS), 4)]]


def test_partitions_not_held_are_not_read(bus: Bus) -> None:
    seen: list[int] = []

    def handle_batch(deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        seen.extend(d.message.payload["n"] for d in deliveries)
        return [None] * len(deliveries)

    for n in range(PARTS):
        bus.publish(partition_topic("texts", n), {"n": n})
    sub = Subscription("texts", "g", lambda d: None, 10, 30.0, handle_batch, partitions=PARTS)
    held = expand(sub)[:2]  # this worker leases partitions 0 and 1 only
    assert drain_once(bus, held, "w", WorkerStats()) == 2
    assert sorted(seen) == [0, 1]
