"""The cache port: a byte-value store with per-key TTL and atomic counters.

Contract (checked by one suite against every backend):
- ``get`` returns the bytes last ``set`` or None when absent or expired.
- ``set`` replaces value and TTL; ``ttl_s=None`` means no expiry; ``ttl_s`` must be > 0.
- ``delete`` returns whether the key existed.
- ``incr`` adds ``amount`` atomically and returns the new value; a missing key counts from 0 and
  gets ``ttl_s`` when created (an existing key keeps its TTL), which makes fixed-window rate
  limits one call. The counter reads back through ``get`` as ASCII digits; incrementing a
  non-integer value raises ``ValueError``.
- Backend failures (e.g. Redis down) raise ``CacheError``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable


class CacheError(RuntimeError):
    """The cache backend failed (unreachable, timed out, refused the command)."""


@runtime_checkable
class Cache(Protocol):
    """A shared byte cache; see the module docstring for the contract."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    def delete(self, key: str) -> bool: ...

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int: ...

    def close(self) -> None: ...


def check_ttl(ttl_s: float | None) -> None:
    if ttl_s is not None and not ttl_s > 0:
        raise ValueError(f"ttl_s must be > 0 or None, got {ttl_s!r}")


def get_json(cache: Cache, key: str) -> Any | None:
    """The JSON value stored at ``key``, or None when absent."""
    raw = cache.get(key)
    return None if raw is None else json.loads(raw)


def set_json(cache: Cache, key: str, value: Any, ttl_s: float | None = None) -> None:
    """Store ``value`` as compact UTF-8 JSON."""
    payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    cache.set(key, payload, ttl_s)
