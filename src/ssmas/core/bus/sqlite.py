"""The embedded bus: one SQLite file in WAL mode, shared safely by several processes.

Messages sit in one table keyed by (topic, offset). A group keeps a cursor (the highest offset it
has been handed) and one in-flight row per message it holds but has not acked; claiming happens
under ``BEGIN IMMEDIATE`` so two consumers never take the same message.

WAL checkpoints (copying the log back into the database file, with its fsyncs: tens of
milliseconds per few megabytes) run on a background thread with its own connection instead of
inside whichever commit crosses SQLite's threshold, so no publish or claim pays for one.
``try_publish_batch`` publishes only if the write lock is free at once (an asyncio caller can
then commit on its own thread and retry later, instead of blocking); ``wait_for_change`` lets
an idle consumer sleep until another connection commits (``PRAGMA data_version``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ssmas.core.bus.arguments import (
    as_deliveries,
    check_consume_args,
    check_key,
    check_label,
    check_limit,
    check_offset,
    check_offsets,
    check_seconds,
    check_topic,
    split_item,
)
from ssmas.core.bus.base import (
    BusClosed,
    Delivery,
    GroupBacklog,
    InvalidBusInput,
    Message,
    PublishItem,
    dlq_topic,
    poll,
)
from ssmas.core.bus.codec import (
    dead_letter_headers,
    encode_headers,
    encode_payload,
    from_micros,
    new_message_id,
    stored_message,
    to_micros,
)
from ssmas.core.bus.sqlite_schema import connect, create_tables, is_busy

_COLUMNS = "seq, id, key, payload, headers, published_us"
Row = tuple[int, str, str | None, str, str, int]
Pending = tuple[str | None, str, str, str]  # key, payload JSON, headers JSON, id


def now_us() -> int:
    """Wall-clock microseconds since the epoch."""
    return time.time_ns() // 1000


def to_message(topic: str, row: Row) -> Message:
    seq, message_id, key, payload, headers, published_us = row
    return stored_message(topic, message_id, key, payload, headers, published_us, seq)


class SqliteBus:
    """``Bus`` on one SQLite file (or ``:memory:`` for a single process)."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_deliveries: int = 5,
        busy_timeout_s: float = 30.0,
        checkpoint_interval_s: float | None = 0.5,
    ) -> None:
        if max_deliveries < 1:
            raise InvalidBusInput("max_deliveries must be at least 1")
        self.max_deliveries = max_deliveries
        self._busy_ms = int(busy_timeout_s * 1000)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(path, busy_timeout_s)
        with self._write() as conn:
            create_tables(conn)
        self._data_version = self._version()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        memory = str(path) == ":memory:" or str(path).startswith("file::memory:")
        if checkpoint_interval_s is not None and not memory:
            if checkpoint_interval_s <= 0:
                raise InvalidBusInput("checkpoint_interval_s must be positive")
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop,
                args=(str(path), busy_timeout_s, checkpoint_interval_s),
                name="sqlite-bus-checkpoint",
                daemon=True,
            )
            self._checkpointer.start()

    def _checkpoint_loop(self, path: str, busy_timeout_s: float, interval_s: float) -> None:
        """Checkpoint the WAL every ``interval_s`` (PASSIVE: never waits for readers/writers)."""
        conn = connect(path, busy_timeout_s)
        try:
            while not self._stop.wait(interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue  # another process is checkpointing; try again next time
        finally:
            conn.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise BusClosed("bus is closed")
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def publish(
        self,
        topic: str,
        payload: Mapping[str, Any],
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        check_topic(topic)
        body, extra = encode_payload(payload), encode_headers(headers)
        pending = (check_key(key), body, extra, new_message_id())
        with self._write() as conn:
            return self._append(conn, topic, [pending])[0]

    def publish_batch(self, topic: str, items: Sequence[PublishItem]) -> list[str]:
        check_topic(topic)
        pending = self._pending(items)
        if not pending:
            return []
        with self._write() as conn:
            return self._append(conn, topic, pending)

    def try_publish_batch(self, topic: str, items: Sequence[PublishItem]) -> list[str] | None:
        """``publish_batch`` if the write lock can be had without waiting, else ``None`` (and
        nothing is written): for callers that must not block, such as an event loop."""
        check_topic(topic)
        pending = self._pending(items)
        if not pending:
            return []
        if not self._lock.acquire(blocking=False):
            return None
        try:
            conn = self._conn
            if conn is None:
                raise BusClosed("bus is closed")
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if is_busy(exc):
                    return None
                raise
            finally:
                conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            try:
                ids = self._append(conn, topic, pending)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return ids
        finally:
            self._lock.release()

    @staticmethod
    def _pending(items: Sequence[PublishItem]) -> list[Pending]:
        pending: list[Pending] = []
        for item in items:
            key, payload = split_item(item)
            pending.append((check_key(key), encode_payload(payload), "{}", new_message_id()))
        return pending

    def wait_for_change(self, timeout_s: float, *, step_s: float = 0.002) -> bool:
        """Sleep until another connection commits to the file, or ``timeout_s`` passes; returns
        whether something changed. One ``PRAGMA data_version`` per step (microseconds)."""
        deadline = time.monotonic() + timeout_s
        while True:
            version = self._version()
            if version != self._data_version:
                self._data_version = version
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(step_s, left))

    def _append(self, conn: sqlite3.Connection, topic: str, pending: list[Pending]) -> list[str]:
        sql = "SELECT last_offset FROM bus_topics WHERE topic = ?"
        row = conn.execute(sql, (topic,)).fetchone()
        last = int(row[0]) if row else 0
        stamp = now_us()
        ids: list[str] = []
        rows: list[tuple[str, int, str, str | None, str, str, int]] = []
        seen: dict[str, str] = {}
        for key, payload, headers, message_id in pending:
            if key is not None:
                known = seen.get(key) or self._id_of_key(conn, topic, key)
                if known:
                    ids.append(known)
                    continue
                seen[key] = message_id
            last += 1
            rows.append((topic, last, message_id, key, payload, headers, stamp))
            ids.append(message_id)
        conn.executemany("INSERT INTO bus_messages VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute(
            "INSERT INTO bus_topics VALUES (?, ?) "
            "ON CONFLICT (topic) DO UPDATE SET last_offset = excluded.last_offset",
            (topic, last),
        )
        return ids

    @staticmethod
    def _id_of_key(conn: sqlite3.Connection, topic: str, key: str) -> str | None:
        sql = "SELECT id FROM bus_messages WHERE topic = ? AND key = ?"
        row = conn.execute(sql, (topic, key)).fetchone()
        return str(row[0]) if row else None

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
        check_topic(topic)
        check_label("group", group)
        check_label("consumer", consumer)
        check_consume_args(max_messages, visibility_timeout_s, wait_s)
        hold_us = int(visibility_timeout_s * 1_000_000)
        return poll(lambda: self._claim(topic, group, consumer, max_messages, hold_us), wait_s)

    def _version(self) -> int:
        with self._read() as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def _has_work(self, topic: str, group: str, now: int) -> bool:
        """A cheap read (no write lock) so idle consumers do not queue on the writer lock."""
        sql = (
            "SELECT EXISTS (SELECT 1 FROM bus_inflight WHERE topic = ?1 AND grp = ?2"
            " AND visible_us <= ?3) OR EXISTS (SELECT 1 FROM bus_messages WHERE topic = ?1"
            " AND seq > COALESCE((SELECT cursor FROM bus_groups WHERE topic = ?1 AND grp = ?2), 0))"
        )
        with self._read() as conn:
            return bool(conn.execute(sql, (topic, group, now)).fetchone()[0])

    def with_work(self, queues: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(topic, group)`` queues have a message to hand out now, in one read: what
        ``consume`` would check first for each, so a worker woken by a commit asks once
        instead of once per queue (a queue it skips is read again on its next step)."""
        if not queues:
            return set()
        rows = ", ".join("(?, ?)" for _ in queues)
        sql = (
            f"WITH q(topic, grp) AS (VALUES {rows}) SELECT topic, grp FROM q WHERE"
            " EXISTS (SELECT 1 FROM bus_inflight i WHERE i.topic = q.topic AND i.grp = q.grp"
            " AND i.visible_us <= ?) OR EXISTS (SELECT 1 FROM bus_messages m WHERE"
            " m.topic = q.topic AND m.seq > COALESCE((SELECT cursor FROM bus_groups g"
            " WHERE g.topic = q.topic AND g.grp = q.grp), 0))"
        )
        args = [x for pair in queues for x in pair]
        with self._read() as conn:
            found = conn.execute(sql, [*args, now_us()]).fetchall()
        return {(str(topic), str(group)) for topic, group in found}

    def _claim(
        self, topic: str, group: str, consumer: str, limit: int, hold_us: int
    ) -> list[Delivery]:
        if not self._has_work(topic, group, now_us()):
            return []
        with self._write() as conn:
            if not self._may_consume(conn, topic, group, consumer):
                return []
            now = now_us()
            conn.execute("INSERT OR IGNORE INTO bus_groups VALUES (?, ?, 0)", (topic, group))
            out = self._claim_due(conn, topic, group, consumer, limit, now, now + hold_us)
            redelivered = len(out)
            if len(out) < limit:
                out.extend(self._claim_new(conn, topic, group, consumer, limit - len(out)))
            self._hold_new(conn, topic, group, consumer, out[redelivered:], now + hold_us)
        return out

    def _claim_due(
        self,
        conn: sqlite3.Connection,
        topic: str,
        group: str,
        consumer: str,
        limit: int,
        now: int,
        visible_us: int,
    ) -> list[Delivery]:
        """Hand out again what timed out or was nacked; dead-letter what used its last try."""
        due = conn.execute(
            "SELECT seq, attempt, last_error FROM bus_inflight WHERE topic = ? AND grp = ?"
            " AND visible_us <= ? ORDER BY visible_us, seq LIMIT ?",
            (topic, group, now, limit),
        ).fetchall()
        attempts: dict[int, int] = {}
        for seq, attempt, error in due:
            if attempt >= self.max_deliveries:
                self._dead_letter(conn, topic, group, seq, attempt, error)
            else:
                attempts[seq] = attempt + 1
        conn.executemany(
            "UPDATE bus_inflight SET consumer = ?, attempt = ?, visible_us = ?"
            " WHERE topic = ? AND grp = ? AND seq = ?",
            [(consumer, n, visible_us, topic, group, seq) for seq, n in attempts.items()],
        )
        out = []
        for row in self._rows(conn, topic, list(attempts)):
            n = attempts[row[0]]
            out.append(Delivery(to_message(topic, row), group, consumer, n, f"{row[0]}:{n}"))
        return out

    @staticmethod
    def _rows(conn: sqlite3.Connection, topic: str, seqs: list[int]) -> list[Row]:
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        sql = f"SELECT {_COLUMNS} FROM bus_messages WHERE topic = ? AND seq IN ({marks})"
        sql += " ORDER BY seq"
        return conn.execute(sql, (topic, *seqs)).fetchall()

    def _claim_new(
        self, conn: sqlite3.Connection, topic: str, group: str, consumer: str, limit: int
    ) -> list[Delivery]:
        cursor = conn.execute(
            "SELECT cursor FROM bus_groups WHERE topic = ? AND grp = ?", (topic, group)
        ).fetchone()[0]
        rows: list[Row] = conn.execute(
            f"SELECT {_COLUMNS} FROM bus_messages WHERE topic = ? AND seq > ? ORDER BY seq LIMIT ?",
            (topic, cursor, limit),
        ).fetchall()
        return [Delivery(to_message(topic, r), group, consumer, 1, f"{r[0]}:1") for r in rows]

    @staticmethod
    def _hold_new(
        conn: sqlite3.Connection,
        topic: str,
        group: str,
        consumer: str,
        fresh: list[Delivery],
        visible_us: int,
    ) -> None:
        if not fresh:
            return
        conn.executemany(
            "INSERT INTO bus_inflight VALUES (?, ?, ?, ?, 1, ?, NULL)",
            [(topic, group, d.message.offset, consumer, visible_us) for d in fresh],
        )
        conn.execute(
            "UPDATE bus_groups SET cursor = ? WHERE topic = ? AND grp = ?",
            (fresh[-1].message.offset, topic, group),
        )

    def _dead_letter(
        self,
        conn: sqlite3.Connection,
        topic: str,
        group: str,
        seq: int,
        attempts: int,
        error: str | None,
    ) -> None:
        conn.execute(
            "DELETE FROM bus_inflight WHERE topic = ? AND grp = ? AND seq = ?", (topic, group, seq)
        )
        rows = self._rows(conn, topic, [seq])
        if not rows:
            return
        _, message_id, _, payload, headers, _ = rows[0]
        extra = dead_letter_headers(
            json.loads(headers),
            message=(topic, message_id, seq),
            group=group,
            attempts=attempts,
            error=error,
        )
        dead = (None, payload, encode_headers(extra), f"{message_id}/{group}")
        self._append(conn, dlq_topic(topic), [dead])

    def ack(self, deliveries: Delivery | Sequence[Delivery]) -> None:
        batch = as_deliveries(deliveries)
        if not batch:
            return
        with self._write() as conn:
            conn.executemany(
                "DELETE FROM bus_inflight WHERE topic = ? AND grp = ? AND seq = ?",
                [(d.message.topic, d.group, d.message.offset) for d in batch],
            )

    def nack(self, delivery: Delivery, *, error: str | None = None, delay_s: float = 0.0) -> None:
        delay_us = int(check_seconds("delay_s", delay_s) * 1_000_000)
        topic, seq, group = delivery.message.topic, delivery.message.offset, delivery.group
        with self._write() as conn:
            row = conn.execute(
                "SELECT attempt, last_error FROM bus_inflight WHERE topic = ? AND grp = ?"
                " AND seq = ?",
                (topic, group, seq),
            ).fetchone()
            if row is None or f"{seq}:{row[0]}" != delivery.receipt:
                return
            if not self._may_consume(conn, topic, group, delivery.consumer):
                return  # the topic is reserved for another consumer since
            last_error = error or row[1]
            if row[0] >= self.max_deliveries:
                self._dead_letter(conn, topic, group, seq, row[0], last_error)
                return
            conn.execute(
                "UPDATE bus_inflight SET visible_us = ?, last_error = ?"
                " WHERE topic = ? AND grp = ? AND seq = ?",
                (now_us() + delay_us, last_error, topic, group, seq),
            )

    def replay(
        self,
        topic: str,
        *,
        since: datetime | None = None,
        from_offset: int | None = None,
        limit: int = 1000,
    ) -> list[Message]:
        check_topic(topic)
        start_us = to_micros(since, "since") if since is not None else 0
        with self._read() as conn:
            rows: list[Row] = conn.execute(
                f"SELECT {_COLUMNS} FROM bus_messages WHERE topic = ? AND seq >= ?"
                " AND published_us >= ? ORDER BY seq LIMIT ?",
                (topic, check_offset(from_offset), start_us, check_limit(limit)),
            ).fetchall()
        return [to_message(topic, row) for row in rows]

    def trim(self, topic: str, *, before: datetime) -> int:
        check_topic(topic)
        cutoff = to_micros(before, "before")
        with self._write() as conn:
            conn.execute(
                "DELETE FROM bus_inflight WHERE topic = ?1 AND seq IN (SELECT seq FROM"
                " bus_messages WHERE topic = ?1 AND published_us < ?2)",
                (topic, cutoff),
            )
            dropped = conn.execute(
                "DELETE FROM bus_messages WHERE topic = ? AND published_us < ?", (topic, cutoff)
            ).rowcount
        return int(dropped)

    # -- partition ownership (not part of the port; ``ssmas.core.worker`` uses it) --------

    @staticmethod
    def _may_consume(conn: sqlite3.Connection, topic: str, group: str, consumer: str) -> bool:
        row = conn.execute(
            "SELECT consumer FROM bus_reservations WHERE topic = ? AND grp = ?", (topic, group)
        ).fetchone()
        return row is None or row[0] == consumer

    def reserve(self, topic: str, group: str, consumer: str) -> int:
        """From now on only ``consumer`` gets messages of ``topic`` in ``group`` (a consume by
        another returns nothing, its nacks are ignored), and everything the group holds is due
        at once in offset order, so the reserver is handed what others held before anything
        new. Returns how many messages other consumers held."""
        check_topic(topic)
        check_label("group", group)
        check_label("consumer", consumer)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO bus_reservations VALUES (?, ?, ?)",
                (topic, group, consumer),
            )
            others = conn.execute(
                "SELECT COUNT(*) FROM bus_inflight WHERE topic = ? AND grp = ? AND consumer != ?",
                (topic, group, consumer),
            ).fetchone()[0]
            conn.execute(
                "UPDATE bus_inflight SET visible_us = ? WHERE topic = ? AND grp = ?",
                (now_us(), topic, group),
            )
        return int(others)

    def unreserve(self, topic: str, group: str, consumer: str) -> None:
        """End ``consumer``'s reservation of ``topic`` in ``group`` (nothing if it holds none)."""
        with self._write() as conn:
            conn.execute(
                "DELETE FROM bus_reservations WHERE topic = ? AND grp = ? AND consumer = ?",
                (topic, group, consumer),
            )

    # -- operations extras (not part of the port) ----------------------------------------

    def backlog(self) -> list[GroupBacklog]:
        """Every group's unacknowledged messages and the oldest one's publish time."""
        out: list[GroupBacklog] = []
        with self._read() as conn:
            groups = conn.execute("SELECT topic, grp, cursor FROM bus_groups").fetchall()
            for topic, grp, cursor in groups:
                waiting, first_us = conn.execute(
                    "SELECT COUNT(*), MIN(published_us) FROM bus_messages"
                    " WHERE topic = ? AND seq > ?",
                    (topic, cursor),
                ).fetchone()
                held, held_us = conn.execute(
                    "SELECT COUNT(*), MIN(m.published_us) FROM bus_inflight f"
                    " JOIN bus_messages m ON m.topic = f.topic AND m.seq = f.seq"
                    " WHERE f.topic = ? AND f.grp = ?",
                    (topic, grp),
                ).fetchone()
                stamps = [us for us in (first_us, held_us) if us is not None]
                oldest = from_micros(min(stamps)) if stamps else None
                out.append(GroupBacklog(topic, grp, int(waiting) + int(held), oldest))
        return out

    def prune_groups(self, prefixes: Sequence[str]) -> int:
        """Delete the groups whose name starts with one of ``prefixes`` (groups of processes
        that are gone); returns how many."""
        dropped = 0
        with self._write() as conn:
            for prefix in prefixes:
                match = "substr(grp, 1, ?) = ?"
                args = (len(prefix), prefix)
                conn.execute(f"DELETE FROM bus_inflight WHERE {match}", args)
                conn.execute(f"DELETE FROM bus_reservations WHERE {match}", args)
                cur = conn.execute(f"DELETE FROM bus_groups WHERE {match}", args)
                dropped += cur.rowcount
        return dropped

    def forget(
        self, topic: str, ids: Sequence[str], *, offsets: Sequence[int] | None = None
    ) -> int:
        """Delete the retained messages ``ids`` of ``topic`` for every group (what erasure of a
        person's data needs); their keys are freed. Returns how many were deleted.

        Rows are keyed by (topic, offset): ``offsets`` (each id's offset, as ``replay`` gave
        it) finds them by key; ids without one, or not at their offset, are looked for among
        the topic's rows."""
        check_topic(topic)
        hints = check_offsets(ids, offsets)
        wanted = list(dict.fromkeys(ids))
        dropped = 0
        with self._write() as conn:
            at: list[int] = []
            hinted = list(hints.items())
            for start in range(0, len(hinted), 500):
                chunk = dict(hinted[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT id, seq FROM bus_messages WHERE topic = ? AND seq IN ({marks})",
                    (topic, *chunk.values()),
                ).fetchall()
                placed = {str(i): int(seq) for i, seq in rows if chunk.get(str(i)) == int(seq)}
                at += placed.values()
                wanted = [i for i in wanted if i not in placed]
            for start in range(0, len(at), 500):
                chunk_seqs = at[start : start + 500]
                marks = ",".join("?" * len(chunk_seqs))
                conn.execute(
                    f"DELETE FROM bus_inflight WHERE topic = ? AND seq IN ({marks})",
                    (topic, *chunk_seqs),
                )
                dropped += conn.execute(
                    f"DELETE FROM bus_messages WHERE topic = ? AND seq IN ({marks})",
                    (topic, *chunk_seqs),
                ).rowcount
            for start in range(0, len(wanted), 500):
                rest = wanted[start : start + 500]
                marks = ",".join("?" * len(rest))
                conn.execute(
                    "DELETE FROM bus_inflight WHERE topic = ? AND seq IN (SELECT seq FROM"
                    f" bus_messages WHERE topic = ? AND id IN ({marks}))",
                    (topic, topic, *rest),
                )
                dropped += conn.execute(
                    f"DELETE FROM bus_messages WHERE topic = ? AND id IN ({marks})",
                    (topic, *rest),
                ).rowcount
        return dropped

    def prune_consumers(self, idle_s: float) -> int:
        """Consumers are not registered in SQLite (only their in-flight rows): nothing to do."""
        return 0

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None and self._checkpointer is not threading.current_thread():
            self._checkpointer.join(10)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
