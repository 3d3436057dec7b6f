"""MemoryCache specifics: LRU bound, TTL on an injected clock, thread safety, settings choice."""

from __future__ import annotations

import threading

import pytest

from ssmas.core.cache import (
    Cache,
    CacheConfigError,
    MemoryCache,
    RedisCache,
    get_json,
    open_cache,
    set_json,
)
from ssmas.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_entry_is_evicted_first() -> None:
    cache = MemoryCache(max_entries=3)
    for key in "abc":
        cache.set(key, key.encode())
    assert cache.get("a") == b"a"  # a is now the most recent
    cache.set("d", b"d")
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    assert len(cache) == 3


def test_incr_counts_as_use_for_lru() -> None:
    cache = MemoryCache(max_entries=2)
    cache.incr("hits")
    cache.set("x", b"1")
    cache.incr("hits")
    cache.set("y", b"2")
    assert cache.get("hits") == b"2"
    assert cache.get("x") is None


def test_ttl_expires_on_the_injected_clock() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    cache.set("k", b"v", ttl_s=10)
    clock.now += 9.9
    assert cache.get("k") == b"v"
    clock.now += 0.2
    assert cache.get("k") is None
    assert not cache.delete("k")
    assert len(cache) == 0


def test_incr_window_keeps_its_first_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    assert cache.incr("win", ttl_s=60) == 1
    clock.now += 59
    assert cache.incr("win", ttl_s=60) == 2  # does not extend the window
    clock.now += 2
    assert cache.incr("win", ttl_s=60) == 1  # a new window


def test_concurrent_increments_are_not_lost() -> None:
    cache = MemoryCache()
    threads = [
        threading.Thread(target=lambda: [cache.incr("n") for _ in range(2000)]) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get("n") == b"16000"


def test_json_helpers_round_trip_and_missing_is_none() -> None:
    cache = MemoryCache()
    set_json(cache, "doc", {"floor": 0.42, "tags": ["a", "ñ"], "n": None})
    assert get_json(cache, "doc") == {"floor": 0.42, "tags": ["a", "ñ"], "n": None}
    assert get_json(cache, "nothing") is None


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)
    cache = MemoryCache()
    with pytest.raises(ValueError, match="ttl_s"):
        cache.set("k", b"v", ttl_s=0)
    with pytest.raises(ValueError, match="ttl_s"):
        cache.incr("k", ttl_s=-1)


def test_open_cache_picks_backend_from_settings() -> None:
    memory = open_cache(Settings(profile="test"))
    assert isinstance(memory, MemoryCache) and isinstance(memory, Cache)
    redis_cache = open_cache(
        Settings(profile="test", cache_backend="redis", redis_url="redis://127.0.0.1:1/0")
    )
    assert isinstance(redis_cache, RedisCache)  # constructed without connecting
    redis_cache.close()
    with pytest.raises(CacheConfigError, match="SSMAS_REDIS_URL"):
        open_cache(Settings(profile="test", cache_backend="redis"))
