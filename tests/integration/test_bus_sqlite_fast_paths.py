"""The SQLite bus's extras for the hot paths: a publish that never waits for the write lock, a
wake-up on other connections' commits, WAL checkpoints off the committing thread; and the
webhook's group commit and the worker's batch handlers on top of them. Real files, no timing
asserts (waits are bounded polls)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from ssmas.assistant.webhook import InboundCommitter
from ssmas.core.bus import BusClosed, Delivery
from ssmas.core.bus.sqlite import SqliteBus, now_us
from ssmas.core.worker import Subscription, WorkerStats, drain_once, wait_until


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / "bus.db"


@pytest.fixture()
def bus(path: Path) -> Iterator[SqliteBus]:
    opened = SqliteBus(path, checkpoint_interval_s=0.05)
    yield opened
    opened.close()


def test_try_publish_batch_writes_when_the_lock_is_free(bus: SqliteBus) -> None:
    ids = bus.try_publish_batch("t", [("k1", {"n": 1}), ("k2", {"n": 2})])
    assert ids is not None and len(ids) == 2
    assert bus.try_publish_batch("t", [("k1", {"n": 9})]) == [ids[0]]  # idempotent key
    assert [m.payload["n"] for m in bus.replay("t")] == [1, 2]


def test_try_publish_batch_gives_up_at_once_while_another_connection_writes(
    bus: SqliteBus, path: Path
) -> None:
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        assert bus.try_publish_batch("t", [("k", {"n": 1})]) is None
        other.execute("COMMIT")
    finally:
        other.close()
    assert bus.replay("t") == []
    # the busy timeout is back: an ordinary publish still waits for a writer to finish
    assert bus.try_publish_batch("t", [("k", {"n": 1})]) is not None
    assert bus.publish("t", {"n": 2}) and len(bus.replay("t")) == 2


def test_wait_for_change_wakes_on_another_connections_commit(bus: SqliteBus, path: Path) -> None:
    assert bus.wait_for_change(0.05) is False
    bus.publish("t", {"own": True})  # our own commits do not wake us
    assert bus.wait_for_change(0.05) is False
    other = SqliteBus(path, checkpoint_interval_s=None)
    try:
        other.publish("t", {"other": True})
        assert bus.wait_for_change(5.0) is True
        assert bus.wait_for_change(0.05) is False  # and only once per change
    finally:
        other.close()


def test_checkpoints_run_in_the_background_and_stop_on_close(path: Path) -> None:
    bus = SqliteBus(path, checkpoint_interval_s=0.05)
    probe = sqlite3.connect(path, isolation_level=None)
    try:
        assert bus._conn is not None
        assert bus._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        bus.publish_batch("t", [{"n": i, "pad": "x" * 500} for i in range(500)])

        def backfilled() -> bool:
            # PASSIVE with nothing left to copy: every frame of the log is in the database
            _, log, done = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return bool(log == done)

        assert wait_until(backfilled, 10)
        thread = bus._checkpointer
        assert thread is not None and thread.is_alive()
    finally:
        probe.close()
        bus.close()
    assert not thread.is_alive()


def test_memory_bus_has_no_checkpointer() -> None:
    bus = SqliteBus(":memory:")
    try:
        assert bus._checkpointer is None
        assert bus.try_publish_batch("t", [{"n": 1}]) is not None
    finally:
        bus.close()


# -- the webhook's group commit --------------------------------------------------------------


def test_group_commit_answers_every_request_with_fewer_transactions(bus: SqliteBus) -> None:
    committer = InboundCommitter(bus, "inbound")

    async def burst() -> list[str]:
        return await asyncio.gather(
            *(committer.publish(f"d{i}", {"n": i}) for i in range(60)),
            committer.publish("d0", {"n": 0}),  # Meta's retry of the first delivery
        )

    ids = asyncio.run(burst())
    assert len(set(ids)) == 60 and ids[-1] == ids[0]
    assert committer.published == 61
    assert committer.transactions < 60
    assert sorted(m.payload["n"] for m in bus.replay("inbound")) == list(range(60))


def test_group_commit_fails_every_request_of_a_failed_transaction(path: Path) -> None:
    bus = SqliteBus(path, checkpoint_interval_s=None)
    committer = InboundCommitter(bus, "inbound")
    bus.close()

    async def burst() -> list[str | BaseException]:
        calls = [committer.publish(f"d{i}", {"n": i}) for i in range(5)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(burst())
    assert all(isinstance(r, BusClosed) for r in results)
    assert committer.transactions == 0


def test_group_commit_waits_for_another_writer_instead_of_failing(
    bus: SqliteBus, path: Path
) -> None:
    committer = InboundCommitter(bus, "inbound")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.1, lambda: other.execute("COMMIT"))
    release.start()
    try:
        message_id = asyncio.run(committer.publish("d", {"n": 1}))
    finally:
        release.join()
        other.close()
    assert [m.id for m in bus.replay("inbound")] == [message_id]


# -- the worker's batch handlers ---------------------------------------------------------------


def test_batch_handler_acks_the_done_and_nacks_the_failed(bus: SqliteBus) -> None:
    bus.publish_batch("jobs", [{"n": i} for i in range(6)])
    seen: list[list[int]] = []

    def handle(batch: Sequence[Delivery]) -> list[BaseException | None]:
        seen.append([d.message.payload["n"] for d in batch])
        return [ValueError("odd") if d.message.payload["n"] % 2 else None for d in batch]

    def never(_: Delivery) -> None:
        raise AssertionError("the batch handler is used")

    sub = Subscription("jobs", "g", never, batch_size=10, batch_handler=handle)
    stats = WorkerStats()
    assert drain_once(bus, [sub], "c", stats) == 3
    assert seen == [[0, 1, 2, 3, 4, 5]]
    assert (stats.handled, stats.failed) == (3, 3)
    again = bus.consume("jobs", "g", "c", max_messages=10)
    assert sorted(d.message.payload["n"] for d in again) == [1, 3, 5]
    assert all(d.attempt == 2 for d in again)


def test_a_raising_batch_handler_gives_the_whole_batch_back(bus: SqliteBus) -> None:
    bus.publish_batch("jobs", [{"n": i} for i in range(3)])

    def explode(batch: Sequence[Delivery]) -> list[BaseException | None]:
        raise RuntimeError("database down")

    sub = Subscription("jobs", "g", lambda d: None, batch_size=10, batch_handler=explode)
    stats = WorkerStats()
    assert drain_once(bus, [sub], "c", stats) == 0
    assert stats.failed == 3
    assert len(bus.consume("jobs", "g", "c", max_messages=10)) == 3


def test_with_work_names_the_queues_consume_would_find_work_in(bus: SqliteBus) -> None:
    queues = [("a", "g1"), ("a", "g2"), ("b", "g1"), ("c", "g1"), ("d", "g1")]
    bus.publish("a", {"n": 1})
    bus.publish("b", {"n": 2})
    bus.publish("d", {"n": 4})
    assert [d.message.payload for d in bus.consume("a", "g1", "w")] == [{"n": 1}]  # in flight
    [later] = bus.consume("b", "g1", "w")
    bus.nack(later, delay_s=60)  # not visible for a minute
    [redo] = bus.consume("d", "g1", "w")
    bus.nack(redo)  # visible again at once

    def one_by_one() -> set[tuple[str, str]]:
        return {q for q in queues if bus._has_work(q[0], q[1], now_us())}

    assert bus.with_work(queues) == one_by_one() == {("a", "g2"), ("d", "g1")}
    assert bus.with_work([]) == set()


def test_drain_once_consumes_only_the_queues_with_work_in_offset_order(bus: SqliteBus) -> None:
    seen: list[tuple[str, int]] = []

    def handler(topic: str) -> Callable[[Delivery], None]:
        return lambda d: seen.append((topic, d.message.payload["n"]))

    subs = [Subscription(t, "g", handler(t), 10, 8.0) for t in ("x", "y", "z")]
    for n in range(3):
        bus.publish("y", {"n": n})
    stats = WorkerStats()
    assert drain_once(bus, subs, "w", stats) == 3
    assert seen == [("y", 0), ("y", 1), ("y", 2)]
    assert drain_once(bus, subs, "w", stats) == 0  # acked: nothing handed out twice
    bus.publish("z", {"n": 9})
    assert drain_once(bus, subs, "w", stats) == 1 and seen[-1] == ("z", 9)
