"""``BoundedMemo``: the results of the last ``size`` keys a computation saw, oldest out first.

Why it exists: the assistant's hot paths remember what they computed for recent texts (MiniLM
vectors, entity spans, FAQ scores), because customers repeat "hola", "thanks", a month's name,
and a form reads a message twice. Each once kept its own dict with its own eviction, and one of
them lost an answer it was about to return: storing a round's new results evicted an older
result of the same round (a ``KeyError``, then a dead letter). ``get_many`` answers a call from
that call's own results, whatever the memo evicts meanwhile.

Safe to share between threads: a lock guards the dict (``compute`` runs outside it, so two
threads may compute one key at once; both get the same value).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """At most ``size`` ``key -> value`` pairs; the oldest stored is dropped first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a memo holds at least one result")
        self.size = size
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        """The keys held, oldest first (a snapshot)."""
        with self._lock:
            return iter(list(self._items))

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items.pop(key, None)  # stored again: now the newest
            while len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def get_many(self, keys: Sequence[K], compute: Callable[[list[K]], Iterable[V]]) -> list[V]:
        """The value of every key, in order: remembered ones read, the others computed by one
        ``compute(missing)`` call (each missing key once, in first-seen order, one value per
        key) and remembered."""
        known: dict[K, V] = {}
        missing: list[K] = []
        with self._lock:
            for key in dict.fromkeys(keys):
                if key in self._items:
                    known[key] = self._items[key]
                else:
                    missing.append(key)
        if missing:
            values = list(compute(missing))
            if len(values) != len(missing):
                raise ValueError(f"compute gave {len(values)} values for {len(missing)} keys")
            for key, value in zip(missing, values, strict=True):
                known[key] = value
                self.put(key, value)
        return [known[key] for key in keys]
