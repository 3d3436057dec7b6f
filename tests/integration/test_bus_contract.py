"""The one contract every bus backend keeps, run against SQLite (a temp file) and real Redis.

Waiting is done with ``consume(wait_s=...)`` rather than sleeps, and no test asserts on timing.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ssmas.core.bus import (
    Bus,
    BusClosed,
    Delivery,
    InvalidBusInput,
    bus_from_settings,
    dlq_topic,
    open_bus,
)
from ssmas.core.bus.base import (
    HEADER_ATTEMPTS,
    HEADER_ERROR,
    HEADER_GROUP,
    HEADER_ID,
    HEADER_OFFSET,
    HEADER_TOPIC,
)
from ssmas.core.bus.instrumented import InstrumentedBus
from ssmas.settings import Settings

KILL_CONSUMER = Path(__file__).with_name("bus_kill_consumer.py")
# "instrumented": the SQLite bus inside InstrumentedBus (what bus_from_settings returns).
BACKENDS = ["sqlite", "instrumented", pytest.param("redis", marks=pytest.mark.redis)]

OpenBus = Callable[..., Bus]


@pytest.fixture(params=BACKENDS)
def bus_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "bus.db")
    if request.param == "instrumented":
        return "instrumented:" + str(tmp_path / "bus.db")
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture()
def open_more(bus_url: str) -> Iterator[OpenBus]:
    """Open extra buses on the same store (as other processes would); all closed afterwards."""
    opened: list[Bus] = []

    def make(max_deliveries: int = 5) -> Bus:
        if bus_url.startswith("instrumented:"):
            inner = open_bus(bus_url.removeprefix("instrumented:"), max_deliveries=max_deliveries)
            bus: Bus = InstrumentedBus(inner)
        else:
            bus = open_bus(bus_url, max_deliveries=max_deliveries)
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        bus.close()


@pytest.fixture()
def bus(open_more: OpenBus) -> Bus:
    return open_more(3)


def offsets(deliveries: list[Delivery]) -> list[int]:
    return [d.message.offset for d in deliveries]


def drain(bus: Bus, topic: str, group: str, consumer: str = "c") -> list[Delivery]:
    """Consume and ack until the topic has nothing visible for the group."""
    out: list[Delivery] = []
    while batch := bus.consume(topic, group, consumer, max_messages=50):
        bus.ack(batch)
        out += batch
    return out


def test_round_trip_carries_every_field(bus: Bus) -> None:
    before = datetime.now(UTC)
    message_id = bus.publish("orders", {"n": 1, "at": before}, key="o-1", headers={"trace": "t1"})
    [delivery] = bus.consume("orders", "billing", "c1")
    message = delivery.message
    assert (message.topic, message.id, message.key) == ("orders", message_id, "o-1")
    assert message.offset == 1
    assert message.payload == {"n": 1, "at": before.isoformat().replace("+00:00", "Z")}
    assert message.headers == {"trace": "t1"}
    assert message.published_at.tzinfo is not None and message.published_at >= before
    assert (delivery.group, delivery.consumer, delivery.attempt) == ("billing", "c1", 1)
    bus.ack(delivery)
    assert bus.consume("orders", "billing", "c1", visibility_timeout_s=0.1, wait_s=0.4) == []


def test_messages_come_in_publish_order(bus: Bus) -> None:
    for n in range(20):
        bus.publish("ticks", {"n": n})
    got: list[int] = []
    while batch := bus.consume("ticks", "g", "c", max_messages=7):
        got += [d.message.payload["n"] for d in batch]
        assert offsets(batch) == sorted(offsets(batch))
        bus.ack(batch)
    assert got == list(range(20))


def test_each_group_gets_every_message_from_the_beginning(bus: Bus) -> None:
    ids = bus.publish_batch("events", [{"n": n} for n in range(5)])
    first = drain(bus, "events", "audit")
    late = bus.publish("events", {"n": 5})
    second = drain(bus, "events", "search")
    assert [d.message.id for d in first] == ids
    assert [d.message.id for d in second] == [*ids, late]


def test_consumers_of_one_group_split_messages_without_duplicates(open_more: OpenBus) -> None:
    open_more().publish_batch("jobs", [{"n": n} for n in range(300)])
    seen: dict[str, list[int]] = {}
    all_holding = threading.Barrier(3, timeout=10)

    def work(name: str) -> None:
        bus = open_more()
        got = seen.setdefault(name, [])
        first = True
        while batch := bus.consume("jobs", "workers", name, max_messages=7, wait_s=0.2):
            got += [d.message.payload["n"] for d in batch]
            if first:  # everyone holds a batch at once, so the split is not up to the scheduler
                all_holding.wait()
                first = False
            bus.ack(batch)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [n for got in seen.values() for n in got]
    assert sorted(everything) == list(range(300))
    assert all(len(got) >= 7 for got in seen.values())


def test_publish_is_idempotent_by_key(bus: Bus) -> None:
    first = bus.publish("pay", {"amount": 10}, key="pay-1")
    assert bus.publish("pay", {"amount": 99}, key="pay-1") == first
    batch = bus.publish_batch("pay", [("pay-1", {"amount": 1}), ("pay-2", {}), ("pay-2", {})])
    assert batch[0] == first and batch[1] == batch[2] != first
    assert bus.publish("other", {"amount": 10}, key="pay-1") != first
    assert [m.payload for m in bus.replay("pay")] == [{"amount": 10}, {}]


def test_unacked_delivery_is_redelivered_after_visibility_timeout(bus: Bus) -> None:
    bus.publish("t", {"n": 1})
    [first] = bus.consume("t", "g", "c1", visibility_timeout_s=0.2)
    assert bus.consume("t", "g", "c2") == []
    [again] = bus.consume("t", "g", "c2", visibility_timeout_s=5, wait_s=5)
    assert again.message.id == first.message.id
    assert (again.attempt, again.consumer) == (2, "c2") and again.receipt != first.receipt
    bus.ack(again)
    assert bus.consume("t", "g", "c2", visibility_timeout_s=0.1, wait_s=0.3) == []


def test_nack_makes_a_message_visible_again_after_its_delay(bus: Bus) -> None:
    bus.publish("t", {"n": 1})
    [first] = bus.consume("t", "g", "c", visibility_timeout_s=30)
    bus.nack(first)
    [second] = bus.consume("t", "g", "c", visibility_timeout_s=30)
    assert (second.message.id, second.attempt) == (first.message.id, 2)
    bus.nack(second, delay_s=0.3)
    assert bus.consume("t", "g", "c") == []
    [third] = bus.consume("t", "g", "c", wait_s=5)
    assert third.attempt == 3


def test_a_batch_expires_per_message(bus: Bus) -> None:
    bus.publish_batch("t", [{"n": n} for n in range(3)])
    acked, nacked, abandoned = bus.consume("t", "g", "c1", max_messages=3, visibility_timeout_s=0.2)
    bus.ack(acked)
    bus.nack(nacked, delay_s=30)
    [again] = bus.consume("t", "g", "c2", max_messages=3, wait_s=5)
    assert (again.message.id, again.attempt) == (abandoned.message.id, 2)
    assert bus.consume("t", "g", "c2", max_messages=3, visibility_timeout_s=0.1, wait_s=0.3) == []


def test_stale_nack_and_late_ack_are_harmless(bus: Bus) -> None:
    bus.publish("t", {"n": 1})
    [stale] = bus.consume("t", "g", "slow", visibility_timeout_s=0.2)
    [current] = bus.consume("t", "g", "fast", visibility_timeout_s=30, wait_s=5)
    bus.nack(stale, error="too late")
    assert bus.consume("t", "g", "fast") == []
    bus.ack(current)
    bus.ack(current)
    bus.ack(stale)
    assert bus.replay(dlq_topic("t")) == []


def test_max_deliveries_moves_a_message_to_the_dead_letter_topic(bus: Bus) -> None:
    original = bus.publish("t", {"n": 1}, headers={"trace": "abc"})
    for attempt in (1, 2, 3):
        [delivery] = bus.consume("t", "g", "c")
        assert delivery.attempt == attempt
        bus.nack(delivery, error=f"failure {attempt}")
    assert bus.consume("t", "g", "c") == []
    [dead] = bus.replay(dlq_topic("t"))
    assert dead.payload == {"n": 1}
    assert dead.headers == {
        "trace": "abc",
        HEADER_TOPIC: "t",
        HEADER_GROUP: "g",
        HEADER_ID: original,
        HEADER_OFFSET: "1",
        HEADER_ATTEMPTS: "3",
        HEADER_ERROR: "failure 3",
    }
    [again] = bus.consume(dlq_topic("t"), "triage", "c")
    assert again.message.id == dead.id


def test_timeouts_count_towards_max_deliveries(bus: Bus) -> None:
    bus.publish("t", {"n": 1})
    for attempt in (1, 2, 3):
        [delivery] = bus.consume("t", "g", "c", visibility_timeout_s=0.1, wait_s=5)
        assert delivery.attempt == attempt
        if attempt == 1:
            bus.nack(delivery, error="first try failed", delay_s=0.05)
    assert bus.consume("t", "g", "c", visibility_timeout_s=0.1, wait_s=0.5) == []
    [dead] = bus.replay(dlq_topic("t"))
    assert dead.headers[HEADER_ATTEMPTS] == "3"
    assert dead.headers[HEADER_ERROR] == "first try failed"
    assert bus.consume("t", "other-group", "c")[0].attempt == 1


def test_poison_message_is_dead_lettered_while_the_rest_flow(bus: Bus) -> None:
    bus.publish_batch("t", [{"n": n, "poison": n == 3} for n in range(6)])
    done: list[int] = []
    while batch := bus.consume("t", "g", "c", max_messages=4, wait_s=0.2):
        for delivery in batch:
            if delivery.message.payload["poison"]:
                bus.nack(delivery, error="ValueError: cannot parse")
            else:
                done.append(delivery.message.payload["n"])
                bus.ack(delivery)
    assert sorted(done) == [0, 1, 2, 4, 5]
    [dead] = bus.replay(dlq_topic("t"))
    assert dead.payload["n"] == 3 and dead.headers[HEADER_ATTEMPTS] == "3"


def test_replay_reads_history_from_a_time_or_an_offset(bus: Bus) -> None:
    old = bus.publish_batch("t", [{"n": n} for n in range(3)])
    time.sleep(0.02)
    cut = datetime.now(UTC)
    time.sleep(0.02)
    new = bus.publish_batch("t", [{"n": n} for n in range(3, 6)])
    assert [m.id for m in bus.replay("t", since=cut)] == new
    assert [m.offset for m in bus.replay("t", from_offset=2, limit=3)] == [2, 3, 4]
    assert [m.id for m in bus.replay("t", since=cut, from_offset=5)] == new[1:]
    assert bus.replay("t", since=datetime.now(UTC)) == []
    assert [m.id for m in bus.replay("t")] == old + new
    assert len(drain(bus, "t", "g")) == 6


def test_trim_drops_old_messages_and_their_keys(bus: Bus) -> None:
    old = bus.publish_batch("t", [("k0", {"n": 0}), (None, {"n": 1})])
    [expiring] = bus.consume("t", "g", "c", visibility_timeout_s=0.05)
    [held] = bus.consume("t", "h", "c", visibility_timeout_s=30)
    time.sleep(0.06)
    cut = datetime.now(UTC)
    time.sleep(0.02)
    new = bus.publish("t", {"n": 2})
    assert bus.trim("t", before=cut) == 2
    assert bus.trim("t", before=cut) == 0
    assert [m.id for m in bus.replay("t")] == [new]
    assert [d.message.id for d in drain(bus, "t", "fresh")] == [new]
    assert [d.message.id for d in drain(bus, "t", "g")] == [new]  # the expired one is gone
    bus.ack(held)
    assert [d.message.id for d in drain(bus, "t", "h")] == [new]
    assert bus.replay(dlq_topic("t")) == []
    again = bus.publish("t", {"n": 0}, key="k0")
    assert again not in old and expiring.message.id in old
    assert bus.replay("t", from_offset=1)[0].offset == 3


def test_bus_from_settings_opens_the_embedded_default(settings: Settings) -> None:
    bus = bus_from_settings(settings)
    try:
        message_id = bus.publish("t", {"n": 1})
        assert [d.message.id for d in drain(bus, "t", "g")] == [message_id]
        assert (settings.data_dir / "bus.db").exists()
    finally:
        bus.close()
    with pytest.raises(BusClosed):
        bus.publish("t", {"n": 2})


def test_batches_publish_and_consume_in_order(bus: Bus) -> None:
    ids = bus.publish_batch("t", [{"n": n} if n % 2 else (f"k{n}", {"n": n}) for n in range(1200)])
    assert len(set(ids)) == 1200
    first = bus.consume("t", "g", "c", max_messages=500)
    assert offsets(first) == list(range(1, 501))
    bus.ack(first)
    rest = drain(bus, "t", "g")
    assert [d.message.id for d in rest] == ids[500:]
    assert bus.publish_batch("t", []) == []


def test_bad_input_is_refused_clearly(bus: Bus) -> None:
    with pytest.raises(InvalidBusInput, match="topic"):
        bus.publish("no spaces", {})
    with pytest.raises(InvalidBusInput, match="JSON"):
        bus.publish("t", {"x": object()})
    with pytest.raises(InvalidBusInput, match="group"):
        bus.consume("t", "", "c")
    with pytest.raises(InvalidBusInput, match="visibility"):
        bus.consume("t", "g", "c", visibility_timeout_s=0)
    with pytest.raises(InvalidBusInput, match="timezone"):
        bus.replay("t", since=datetime(2024, 1, 1))
    with pytest.raises(InvalidBusInput, match="delay"):
        bus.publish("t", {})
        [delivery] = bus.consume("t", "g", "c")
        bus.nack(delivery, delay_s=-1)


def test_a_closed_bus_refuses_work(open_more: OpenBus) -> None:
    bus = open_more()
    bus.publish("t", {"n": 1})
    bus.close()
    with pytest.raises(BusClosed):
        bus.publish("t", {"n": 2})
    with pytest.raises(BusClosed):
        bus.consume("t", "g", "c")
    bus.close()


def start_consumer(bus_url: str, effects: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(KILL_CONSUMER), bus_url, "pay", str(effects), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when_stalled(proc: subprocess.Popen[str]) -> str:
    """Wait for the consumer to stall mid-handler, SIGKILL it, return the message id it held."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert line.startswith("STALL "), proc.stderr.read() if proc.stderr else line
    return line.split()[1]


def test_sigkilled_consumer_loses_nothing_and_applies_each_message_once(
    bus: Bus, bus_url: str, tmp_path: Path
) -> None:
    ids = bus.publish_batch("pay", [{"amount": n} for n in range(1, 11)])
    effects = tmp_path / "effects.db"
    a = start_consumer(
        bus_url, effects, "--name", "a", "--stall-on", "3", "--stall-at", "before-commit"
    )
    held_a = kill_when_stalled(a)
    b = start_consumer(
        bus_url, effects, "--name", "b", "--stall-on", "2", "--stall-at", "after-commit"
    )
    held_b = kill_when_stalled(b)
    c = start_consumer(bus_url, effects, "--name", "c", "--expect", "10")
    assert c.wait(timeout=40) == 0, c.stderr.read() if c.stderr else ""
    with sqlite3.connect(effects) as conn:
        applied = dict(conn.execute("SELECT message_id, COUNT(*) FROM applied GROUP BY 1"))
        total = conn.execute("SELECT SUM(amount) FROM applied").fetchone()[0]
        seen = dict(conn.execute("SELECT message_id, COUNT(*) FROM seen GROUP BY 1"))
    assert applied == {message_id: 1 for message_id in ids}
    assert total == sum(range(1, 11))
    assert seen[held_a] >= 2 and seen[held_b] >= 2


# -- reservation (an extra both backends have; partition takeover in ssmas.core.worker) ---------


def test_a_reservation_hands_what_others_held_back_first_in_offset_order(bus: Bus) -> None:
    bus.publish_batch("part", [{"n": n} for n in range(6)])
    # the old owner holds 0-2 on their first delivery (a long visibility timeout) and has
    # nacked 3 with a delay; 4 and 5 were never read
    held = bus.consume("part", "g", "old", max_messages=4, visibility_timeout_s=300)
    assert offsets(held) == [1, 2, 3, 4]
    bus.nack(held[3], delay_s=300)
    assert bus.reserve("part", "g", "new") == 4  # type: ignore[attr-defined]
    got = bus.consume("part", "g", "new", max_messages=3)
    assert offsets(got) == [1, 2, 3] and [d.attempt for d in got] == [2, 2, 2]
    rest = bus.consume("part", "g", "new", max_messages=10)
    assert offsets(rest) == [4, 5, 6] and [d.attempt for d in rest] == [2, 1, 1]


def test_a_reserved_topic_serves_no_other_consumer_and_ignores_its_nacks(bus: Bus) -> None:
    bus.publish_batch("part", [{"n": n} for n in range(3)])
    [stale] = bus.consume("part", "g", "old", visibility_timeout_s=300)
    bus.reserve("part", "g", "new")  # type: ignore[attr-defined]
    assert bus.consume("part", "g", "old", max_messages=10) == []  # fenced
    bus.nack(stale, delay_s=300)  # the fenced consumer cannot push its message back
    got = bus.consume("part", "g", "new", max_messages=10)
    assert offsets(got) == [1, 2, 3]
    bus.ack(stale)  # a late ack of work done is still taken
    bus.ack(got)
    assert offsets(bus.consume("part", "other", "old")) == [1]  # other groups are not reserved
    bus.unreserve("part", "g", "old")  # type: ignore[attr-defined]  # not old's: no effect
    bus.publish("part", {"n": 3})
    assert bus.consume("part", "g", "old", visibility_timeout_s=0.1, wait_s=0.3) == []
    bus.unreserve("part", "g", "new")  # type: ignore[attr-defined]
    assert offsets(bus.consume("part", "g", "old", wait_s=5)) == [4]


@pytest.mark.parametrize("hinted", [False, True], ids=["by-id", "with-offsets"])
def test_forget_deletes_messages_for_every_group_and_frees_their_keys(
    bus: Bus, hinted: bool
) -> None:
    ids = [bus.publish("pii", {"n": n}, key=f"k{n}") for n in range(6)]
    held = bus.consume("pii", "g", "c", max_messages=6, visibility_timeout_s=300)
    assert offsets(held) == [1, 2, 3, 4, 5, 6]
    for delivery in held:  # due again at once, as a redelivery
        bus.nack(delivery)
    gone = [ids[1], ids[3], "f" * 32]  # the last one was never published
    # offsets as replay gives them; the second hint is wrong (the bus looks further for it)
    hints = [2, 3, 9] if hinted else None
    assert bus.forget("pii", gone, offsets=hints) == 2  # type: ignore[attr-defined]
    assert bus.forget("pii", gone, offsets=hints) == 0  # type: ignore[attr-defined]
    kept = [1, 3, 5, 6]
    assert offsets(bus.consume("pii", "g", "c", max_messages=10)) == kept  # not redelivered
    assert offsets(bus.consume("pii", "other", "c", max_messages=10)) == kept
    assert [m.id for m in bus.replay("pii")] == [ids[0], ids[2], ids[4], ids[5]]
    assert bus.publish("pii", {"n": 1}, key="k1") not in ids  # its key is free again
    assert bus.publish("pii", {"n": 0}, key="k0") == ids[0]  # a kept one still holds its key


def test_forget_refuses_hints_that_do_not_pair_with_the_ids(bus: Bus) -> None:
    message_id = bus.publish("pii", {"n": 0})
    with pytest.raises(InvalidBusInput, match="offsets"):
        bus.forget("pii", [message_id], offsets=[1, 2])  # type: ignore[attr-defined]
    with pytest.raises(InvalidBusInput, match="offsets"):
        bus.forget("pii", [message_id], offsets=[-1])  # type: ignore[attr-defined]
    assert [m.id for m in bus.replay("pii")] == [message_id]
