"""One contract suite for every Cache backend: MemoryCache and RedisCache on a real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from ssmas.core.cache import Cache, CacheError, MemoryCache, RedisCache, get_json, set_json


@dataclass
class Backend:
    cache: Cache
    wait: Callable[[float], None]  # let `seconds` pass for TTL purposes


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()
        yield Backend(MemoryCache(clock=clock), clock.advance)
        return
    url = request.getfixturevalue("redis_url")
    cache = RedisCache(url, prefix="test:")
    yield Backend(cache, time.sleep)
    cache.close()


def test_get_missing_is_none(backend: Backend) -> None:
    assert backend.cache.get("absent") is None


def test_set_then_get_returns_exact_bytes(backend: Backend) -> None:
    value = bytes(range(256))
    backend.cache.set("bin", value)
    assert backend.cache.get("bin") == value
    backend.cache.set("bin", b"")
    assert backend.cache.get("bin") == b""


def test_set_replaces_value(backend: Backend) -> None:
    backend.cache.set("k", b"one")
    backend.cache.set("k", b"two")
    assert backend.cache.get("k") == b"two"


def test_delete_reports_whether_key_existed(backend: Backend) -> None:
    backend.cache.set("k", b"v")
    assert backend.cache.delete("k") is True
    assert backend.cache.get("k") is None
    assert backend.cache.delete("k") is False


def test_ttl_expires_and_reset_without_ttl_persists(backend: Backend) -> None:
    backend.cache.set("short", b"v", ttl_s=0.2)
    backend.cache.set("kept", b"v", ttl_s=0.2)
    backend.cache.set("kept", b"w")  # set without TTL clears the expiry
    backend.wait(0.4)
    assert backend.cache.get("short") is None
    assert backend.cache.get("kept") == b"w"


def test_incr_starts_at_zero_and_reads_back_as_digits(backend: Backend) -> None:
    assert backend.cache.incr("n") == 1
    assert backend.cache.incr("n", 5) == 6
    assert backend.cache.incr("n", -2) == 4
    assert backend.cache.get("n") == b"4"


def test_incr_on_existing_integer_value(backend: Backend) -> None:
    backend.cache.set("n", b"41")
    assert backend.cache.incr("n") == 42


def test_incr_ttl_applies_only_when_created(backend: Backend) -> None:
    assert backend.cache.incr("win", ttl_s=0.3) == 1
    backend.wait(0.15)
    assert backend.cache.incr("win", ttl_s=0.3) == 2
    backend.wait(0.3)
    assert backend.cache.get("win") is None
    assert backend.cache.incr("win", ttl_s=0.3) == 1


def test_incr_non_integer_raises_value_error(backend: Backend) -> None:
    backend.cache.set("text", b"hello")
    with pytest.raises(ValueError):
        backend.cache.incr("text")
    assert backend.cache.get("text") == b"hello"


def test_non_positive_ttl_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        backend.cache.set("k", b"v", ttl_s=0)
    assert backend.cache.get("k") is None


def test_json_helpers(backend: Backend) -> None:
    set_json(backend.cache, "doc", {"a": [1, 2.5, "ü"], "b": {"c": True}})
    assert get_json(backend.cache, "doc") == {"a": [1, 2.5, "ü"], "b": {"c": True}}


def test_keys_are_independent(backend: Backend) -> None:
    backend.cache.set("a", b"1")
    backend.cache.set("b", b"2")
    backend.cache.delete("a")
    assert backend.cache.get("b") == b"2"


@pytest.mark.redis
def test_redis_keys_live_under_the_prefix(redis_url: str) -> None:
    cache = RedisCache(redis_url, prefix="tenant-a:")
    other = RedisCache(redis_url, prefix="tenant-b:")
    cache.set("k", b"a")
    assert other.get("k") is None
    raw = redis.Redis.from_url(redis_url)
    assert raw.get("tenant-a:k") == b"a"
    raw.close()
    cache.close()
    other.close()


def test_redis_unreachable_raises_cache_error() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0")
    with pytest.raises(CacheError, match="redis unavailable"):
        cache.get("k")
    cache.close()
