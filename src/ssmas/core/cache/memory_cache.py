"""In-process cache: thread-safe, per-key TTL, bounded by LRU eviction."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ssmas.core.cache.port import check_ttl

DEFAULT_MAX_ENTRIES = 10_000


class MemoryCache:
    """The embedded ``Cache``: one process only; the least recently used entry goes first when full.

    ``clock`` (monotonic seconds) is injectable so TTL behaviour is testable without sleeping.
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (value, expires_at or None); order is recency, oldest first.
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            now = self._clock()
            return sum(1 for _, exp in self._entries.values() if exp is None or exp > now)

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, value: bytes, expires_at: float | None) -> None:
        self._entries[key] = (value, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._live(key)
            return None if entry is None else entry[0]

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        check_ttl(ttl_s)
        with self._lock:
            self._store(key, bytes(value), None if ttl_s is None else self._clock() + ttl_s)

    def delete(self, key: str) -> bool:
        with self._lock:
            existed = self._live(key) is not None
            self._entries.pop(key, None)
            return existed

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        check_ttl(ttl_s)
        with self._lock:
            entry = self._live(key)
            if entry is None:
                current, expires_at = 0, (None if ttl_s is None else self._clock() + ttl_s)
            else:
                try:
                    current = int(entry[0])
                except ValueError:
                    raise ValueError(f"value at {key!r} is not an integer") from None
                expires_at = entry[1]
            new = current + amount
            self._store(key, str(new).encode("ascii"), expires_at)
            return new

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        self.clear()
