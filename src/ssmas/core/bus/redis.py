"""The scale-out bus: Redis Streams with consumer groups, scripted in Lua where it must be atomic.

A topic is a stream whose entry ids are ``<offset>-0``; a group is a stream consumer group
created at id 0 (so it starts at the oldest retained entry). Redis keeps who holds what and how
often it was delivered (the pending entries list); two sorted sets per group keep when held
entries become visible again (one lease per consumed batch, one score per redelivered or nacked
entry), because XAUTOCLAIM's idle clock cannot express a per-delivery visibility timeout or a
nack delay. Idempotency keys are ``SET NX EX`` strings. A reservation (``reserve``: one consumer
alone may read a group's topic, partition takeover) is a string key the consume and nack
scripts check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ssmas.core.bus import redis_lua
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
    encode_headers,
    encode_payload,
    from_micros,
    new_message_id,
    stored_message,
    to_micros,
)

if TYPE_CHECKING:
    import redis as redis_py

DEFAULT_PREFIX = "ssmas:bus"
_FIELD_ORDER = ["i", "k", "p", "h", "t"]
DEFAULT_KEY_TTL_S = 7 * 24 * 3600
TRIM_CHUNK = 1000
LAG_COUNT = 100_000  # counted exactly up to this many, beyond it Redis's estimate


def to_message(topic: str, entry_id: str, fields: Mapping[str, str]) -> Message:
    """A ``Message`` from one stream entry (id ``<offset>-0`` and its fields)."""
    offset = int(entry_id.split("-", 1)[0])
    key = fields["k"] or None
    published_us = int(fields["t"])
    return stored_message(topic, fields["i"], key, fields["p"], fields["h"], published_us, offset)


def from_flat(topic: str, entry_id: str, flat: Sequence[str]) -> Message:
    """Like ``to_message`` for the flat field list Lua returns, written ``i k p h t`` in order."""
    if flat[::2] != _FIELD_ORDER:
        return to_message(topic, entry_id, dict(zip(flat[::2], flat[1::2], strict=True)))
    offset = int(entry_id.split("-", 1)[0])
    return stored_message(topic, flat[1], flat[3] or None, flat[5], flat[7], int(flat[9]), offset)


class RedisBus:
    """``Bus`` on Redis Streams; ``key_ttl_s`` bounds how long an idempotency key is kept."""

    def __init__(
        self,
        url: str,
        *,
        max_deliveries: int = 5,
        prefix: str = DEFAULT_PREFIX,
        key_ttl_s: int = DEFAULT_KEY_TTL_S,
    ) -> None:
        try:
            import redis as redis_py
        except ImportError:  # pragma: no cover - redis is a core dependency today
            raise InvalidBusInput("the Redis bus needs the 'redis' package: pip install redis")
        if max_deliveries < 1:
            raise InvalidBusInput("max_deliveries must be at least 1")
        if key_ttl_s < 1:
            raise InvalidBusInput("key_ttl_s must be at least 1")
        self.max_deliveries = max_deliveries
        self._prefix = prefix
        self._key_ttl_s = key_ttl_s
        self._client: redis_py.Redis = redis_py.Redis.from_url(url, decode_responses=True)
        self._publish = self._client.register_script(redis_lua.PUBLISH)
        self._consume = self._client.register_script(redis_lua.CONSUME)
        self._nack = self._client.register_script(redis_lua.NACK)
        self._first_since = self._client.register_script(redis_lua.FIRST_SINCE)
        self._trim_chunk = self._client.register_script(redis_lua.TRIM_CHUNK)
        self._reserve = self._client.register_script(redis_lua.RESERVE)
        self._unreserve = self._client.register_script(redis_lua.UNRESERVE)
        self._closed = False

    def _stream(self, topic: str) -> str:
        # Every operation names a stream first, so this is where a closed bus refuses work.
        if self._closed:
            raise BusClosed("bus is closed")
        return f"{self._prefix}:s:{topic}"

    def _meta(self, topic: str) -> str:
        return f"{self._prefix}:m:{topic}"

    def _key_prefix(self, topic: str) -> str:
        return f"{self._prefix}:k:{topic}:"

    def _group_keys(self, topic: str, group: str) -> list[str]:
        """Keys the consume and nack scripts touch: stream, deadlines, errors, DLQ stream and
        meta, batch leases, reservation."""
        dead = dlq_topic(topic)
        return [
            self._stream(topic),
            f"{self._prefix}:v:{topic}:{group}",
            f"{self._prefix}:e:{topic}:{group}",
            self._stream(dead),
            self._meta(dead),
            f"{self._prefix}:l:{topic}:{group}",
            f"{self._prefix}:r:{topic}:{group}",
        ]

    def publish(
        self,
        topic: str,
        payload: Mapping[str, Any],
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        check_topic(topic)
        item = [new_message_id(), check_key(key) or "", encode_payload(payload)]
        return self._append(topic, [*item, encode_headers(headers)])[0]

    def publish_batch(self, topic: str, items: Sequence[PublishItem]) -> list[str]:
        check_topic(topic)
        flat: list[str] = []
        for item in items:
            key, payload = split_item(item)
            flat += [new_message_id(), check_key(key) or "", encode_payload(payload), "{}"]
        return self._append(topic, flat) if flat else []

    def _append(self, topic: str, flat: list[str]) -> list[str]:
        keys = [self._stream(topic), self._meta(topic)]
        ids = self._publish(keys=keys, args=[self._key_prefix(topic), self._key_ttl_s, *flat])
        return [str(i) for i in ids]

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
        keys = self._group_keys(topic, group)
        hold_ms = max(1, round(visibility_timeout_s * 1000))
        args = [group, consumer, max_messages, hold_ms, self.max_deliveries, topic]

        def claim() -> list[Delivery]:
            due, first, last = self._consume(keys=keys, args=args)
            out = [
                Delivery(from_flat(topic, eid, flat), group, consumer, n, f"{eid}:{n}")
                for eid, n, flat in due
            ]
            if first:
                fresh = self._client.xrange(keys[0], min=first, max=last)
                out += [
                    Delivery(to_message(topic, eid, fields), group, consumer, 1, f"{eid}:1")
                    for eid, fields in fresh
                ]
            return out

        return poll(claim, wait_s)

    def ack(self, deliveries: Delivery | Sequence[Delivery]) -> None:
        by_group: dict[tuple[str, str], list[str]] = defaultdict(list)
        for d in as_deliveries(deliveries):
            by_group[(d.message.topic, d.group)].append(f"{d.message.offset}-0")
        if not by_group:
            return
        with self._client.pipeline(transaction=True) as pipe:
            for (topic, group), ids in by_group.items():
                stream, vis, err, *_ = self._group_keys(topic, group)
                pipe.xack(stream, group, *ids)
                pipe.zrem(vis, *ids)
                pipe.hdel(err, *ids)
            pipe.execute()

    def nack(self, delivery: Delivery, *, error: str | None = None, delay_s: float = 0.0) -> None:
        delay_ms = round(check_seconds("delay_s", delay_s) * 1000)
        topic = delivery.message.topic
        entry = f"{delivery.message.offset}-0"
        if delivery.receipt != f"{entry}:{delivery.attempt}":
            return
        args = [
            delivery.group,
            entry,
            delivery.attempt,
            delay_ms,
            self.max_deliveries,
            error or "",
            topic,
            delivery.consumer,
        ]
        self._nack(keys=self._group_keys(topic, delivery.group), args=args)

    def replay(
        self,
        topic: str,
        *,
        since: datetime | None = None,
        from_offset: int | None = None,
        limit: int = 1000,
    ) -> list[Message]:
        check_topic(topic)
        start = check_offset(from_offset)
        check_limit(limit)
        stream = self._stream(topic)
        if since is not None:
            found = self._first_since(keys=[stream], args=[to_micros(since, "since"), start])
            if int(found) < 0:
                return []
            start = int(found)
        entries = self._client.xrange(stream, min=f"{start}-0", count=limit)
        return [to_message(topic, eid, fields) for eid, fields in entries]

    def trim(self, topic: str, *, before: datetime) -> int:
        check_topic(topic)
        cutoff = to_micros(before, "before")
        args = [cutoff, self._key_prefix(topic), TRIM_CHUNK]
        dropped = 0
        while True:
            n = int(self._trim_chunk(keys=[self._stream(topic)], args=args))
            dropped += n
            if n < TRIM_CHUNK:
                return dropped

    # -- partition ownership (not part of the port; ``ssmas.core.worker`` uses it) --------

    def reserve(self, topic: str, group: str, consumer: str) -> int:
        """From now on only ``consumer`` gets messages of ``topic`` in ``group`` (a consume by
        another returns nothing, its nacks are ignored), and everything the group holds is due
        at once in offset order, so the reserver is handed what others held before anything
        new. Returns how many messages other consumers held."""
        check_topic(topic)
        check_label("group", group)
        check_label("consumer", consumer)
        stream, vis, *_rest, reservation = self._group_keys(topic, group)
        return int(self._reserve(keys=[stream, vis, reservation], args=[group, consumer]))

    def unreserve(self, topic: str, group: str, consumer: str) -> None:
        """End ``consumer``'s reservation of ``topic`` in ``group`` (nothing if it holds none)."""
        check_topic(topic)
        self._unreserve(keys=[self._group_keys(topic, group)[6]], args=[consumer])

    # -- operations extras (not part of the port) ----------------------------------------

    @property
    def _ops(self) -> Any:
        """The client, untyped: redis-py leaves the XINFO / XGROUP calls unannotated."""
        return self._client

    def _topics(self) -> list[str]:
        head = f"{self._prefix}:s:"
        return sorted(k[len(head) :] for k in self._ops.scan_iter(match=f"{head}*", count=500))

    def _published_at(self, stream: str, entry_id: str | None, after: bool) -> datetime | None:
        if entry_id is None:
            return None
        start = f"({entry_id}" if after else entry_id
        got = self._ops.xrange(stream, min=start, max="+", count=1)
        return from_micros(int(got[0][1]["t"])) if got else None

    def backlog(self) -> list[GroupBacklog]:
        """Every group's unacknowledged messages (pending + not yet delivered) and the
        oldest one's publish time."""
        out: list[GroupBacklog] = []
        for topic in self._topics():
            stream = self._stream(topic)
            # Redis counts a group's lag from counters that entries deleted by ``forget`` (XDEL)
            # leave off; after one, count what is after the group's cursor (bounded).
            deleted = str(self._ops.xinfo_stream(stream).get("max-deleted-entry-id") or "0-0")
            for info in self._ops.xinfo_groups(stream):
                pending = int(info.get("pending") or 0)
                last = str(info.get("last-delivered-id") or "0-0")
                lag = info.get("lag")
                if lag is None or deleted != "0-0":  # Redis < 7, trimmed or forgotten entries
                    after = self._ops.xrange(stream, min=f"({last}", max="+", count=LAG_COUNT)
                    if lag is None or len(after) < LAG_COUNT:
                        lag = len(after)
                oldest = None
                if pending:
                    summary = self._ops.xpending(stream, info["name"])
                    oldest = self._published_at(stream, summary.get("min"), after=False)
                if oldest is None and lag:
                    oldest = self._published_at(stream, last, after=True)
                out.append(GroupBacklog(topic, str(info["name"]), pending + int(lag), oldest))
        return out

    def prune_groups(self, prefixes: Sequence[str]) -> int:
        """Delete the groups whose name starts with one of ``prefixes`` (with their deadline,
        error and lease keys); returns how many."""
        dropped = 0
        for topic in self._topics():
            stream = self._stream(topic)
            for info in self._ops.xinfo_groups(stream):
                group = str(info["name"])
                if not any(group.startswith(p) for p in prefixes):
                    continue
                self._ops.xgroup_destroy(stream, group)
                keys = self._group_keys(topic, group)
                self._ops.delete(keys[1], keys[2], keys[5], keys[6])  # and the reservation
                dropped += 1
        return dropped

    def forget(
        self, topic: str, ids: Sequence[str], *, offsets: Sequence[int] | None = None
    ) -> int:
        """Delete the retained messages ``ids`` of ``topic`` for every group (what erasure of a
        person's data needs): acknowledged for each group, their redelivery deadlines and errors
        dropped, the entries deleted and their keys freed. Returns how many were deleted.

        Message ids are random and the stream is keyed by offset, so an id alone is found by
        scanning the stream. ``offsets`` (each id's offset, as ``replay`` gave it) reads just
        those entries; an id not at its offset (gone, or a wrong hint) is looked for by the
        scan."""
        check_topic(topic)
        hints = check_offsets(ids, offsets)
        stream = self._stream(topic)
        wanted = set(ids)
        found: list[tuple[str, str, str]] = []  # (entry id, message id, key)
        if hints:
            found = self._entries_at(stream, hints)
            wanted -= {message_id for _, message_id, _ in found}
        found += self._scan_for(stream, wanted)
        if not found:
            return 0
        entry_ids = [e for e, _, _ in found]
        groups = [str(g["name"]) for g in self._ops.xinfo_groups(stream)]
        pipe = self._client.pipeline(transaction=True)
        for group in groups:
            keys = self._group_keys(topic, group)
            pipe.xack(stream, group, *entry_ids)
            pipe.zrem(keys[1], *entry_ids)
            pipe.hdel(keys[2], *entry_ids)
        pipe.xdel(stream, *entry_ids)
        pipe.execute()
        for _, message_id, key in found:
            index = self._key_prefix(topic) + key
            if key and self._client.get(index) == message_id:  # still names this message
                self._client.delete(index)
        return len(found)

    def _entries_at(self, stream: str, hints: Mapping[str, int]) -> list[tuple[str, str, str]]:
        """The entries at the hinted offsets that hold the message hinted there."""
        pipe = self._client.pipeline(transaction=False)
        for offset in hints.values():
            entry = f"{offset}-0"
            pipe.xrange(stream, min=entry, max=entry)
        found = []
        for message_id, entries in zip(hints, pipe.execute(), strict=True):
            if entries and entries[0][1].get("i") == message_id:
                entry_id, fields = entries[0]
                found.append((entry_id, message_id, fields["k"]))
        return found

    def _scan_for(self, stream: str, wanted: set[str]) -> list[tuple[str, str, str]]:
        """The entries holding the messages ``wanted``, read through the stream in chunks."""
        wanted = set(wanted)
        found: list[tuple[str, str, str]] = []
        start = "-"
        while wanted:
            entries = self._client.xrange(stream, min=start, count=TRIM_CHUNK)
            for entry_id, fields in entries:
                if fields["i"] in wanted:
                    found.append((entry_id, fields["i"], fields["k"]))
                    wanted.discard(fields["i"])
            if len(entries) < TRIM_CHUNK:
                break
            start = f"({entries[-1][0]}"
        return found

    def prune_consumers(self, idle_s: float) -> int:
        """Forget consumers idle longer than ``idle_s`` that hold nothing (processes that are
        gone; what a dead one held is redelivered first, then it holds nothing); returns how
        many."""
        dropped = 0
        for topic in self._topics():
            stream = self._stream(topic)
            for info in self._ops.xinfo_groups(stream):
                group = str(info["name"])
                for consumer in self._ops.xinfo_consumers(stream, group):
                    idle_ms = int(consumer.get("idle") or 0)
                    if int(consumer.get("pending") or 0) == 0 and idle_ms > idle_s * 1000:
                        self._ops.xgroup_delconsumer(stream, group, consumer["name"])
                        dropped += 1
        return dropped

    def close(self) -> None:
        self._closed = True
        self._client.close()
