"""``RedisRateLimiter`` against the real Redis: shared buckets, refusals, fail-open, HTTP 429."""

from __future__ import annotations

import asyncio
import socket

import pytest
import redis
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.platform import build_platform
from ssmas.core.ratelimit import MemoryRateLimiter, RedisRateLimiter, open_rate_limiter
from ssmas.core.security.keys import create_api_key
from ssmas.settings import Settings

pytestmark = pytest.mark.redis


async def hits(limiter: RedisRateLimiter, key: str, n: int) -> list[bool]:
    return [(await limiter.hit(key)).allowed for _ in range(n)]


def test_burst_then_refusal_with_wait(redis_url: str) -> None:
    async def scenario() -> None:
        limiter = RedisRateLimiter(redis_url, rate=0.5, burst=4)
        try:
            assert await hits(limiter, "k1", 4) == [True] * 4
            refused = await limiter.hit("k1")
            assert not refused.allowed
            # Up to one token at 0.5/s: at most 2 s, and the header rounds up to whole seconds.
            assert 0 < refused.retry_after_s <= 2.0
            assert refused.retry_after_header in {"1", "2"}
            assert (await limiter.hit("k2")).allowed  # another key has its own bucket
        finally:
            await limiter.close()

    asyncio.run(scenario())


def test_two_limiters_share_one_bucket(redis_url: str) -> None:
    async def scenario() -> None:
        first = RedisRateLimiter(redis_url, rate=0.01, burst=3)
        second = RedisRateLimiter(redis_url, rate=0.01, burst=3)
        try:
            assert await hits(first, "shared", 2) == [True, True]
            assert await hits(second, "shared", 2) == [True, False]
            assert not (await first.hit("shared")).allowed
        finally:
            await first.close()
            await second.close()

    asyncio.run(scenario())


def test_bucket_keys_expire_and_live_under_prefix(redis_url: str) -> None:
    async def scenario() -> None:
        limiter = RedisRateLimiter(redis_url, rate=10, burst=20, prefix="test:rl:")
        try:
            await limiter.hit("abc")
        finally:
            await limiter.close()

    asyncio.run(scenario())
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists("test:rl:abc") == 1
        ttl_ms = client.pttl("test:rl:abc")
        assert 0 < ttl_ms <= 3000  # a full refill (2 s) plus a second of slack
    finally:
        client.close()


def test_redis_down_fails_open(redis_url: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario() -> None:
        limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", rate=0.01, burst=1)
        try:
            assert await hits(limiter, "k", 3) == [True, True, True]
        finally:
            await limiter.close()

    asyncio.run(scenario())


def test_blocking_and_async_hits_share_the_bucket(redis_url: str) -> None:
    async def scenario() -> None:
        limiter = RedisRateLimiter(redis_url, rate=0.01, burst=3)
        try:
            assert limiter.hit_now("mixed").allowed
            assert (await limiter.hit("mixed")).allowed
            assert limiter.hit_now("mixed").allowed
            refused = limiter.hit_now("mixed")
            assert not refused.allowed and refused.retry_after_s > 0
            assert not (await limiter.hit("mixed")).allowed
        finally:
            await limiter.close()  # both connection pools

    asyncio.run(scenario())


def test_a_fallback_limits_while_redis_is_down() -> None:
    fallback = MemoryRateLimiter(rate=0.01, burst=2)
    limiter = open_rate_limiter(
        "redis", rate=0.01, burst=2, redis_url="redis://127.0.0.1:1/0", local_fallback=True
    )
    assert isinstance(limiter, RedisRateLimiter) and limiter.fallback is not None
    own = RedisRateLimiter("redis://127.0.0.1:1/0", rate=0.01, burst=2, fallback=fallback)
    try:
        assert [own.hit_now("k").allowed for _ in range(3)] == [True, True, False]
        assert [limiter.hit_now("k").allowed for _ in range(3)] == [True, True, False]
    finally:
        own.close_now()
        limiter.close_now()


def test_bad_cost_is_refused(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, rate=1, burst=2)
    with pytest.raises(ValueError, match="cost"):
        asyncio.run(limiter.hit("k", cost=3))


def test_api_answers_429_from_redis_buckets(settings: Settings, redis_url: str) -> None:
    tight = settings.model_copy(
        update={
            "redis_url": redis_url,
            "rate_limit_backend": "redis",
            "rate_limit_per_s": 0.01,
            "rate_limit_burst": 2,
        }
    )
    platform = build_platform(tight)
    try:
        with platform.uow() as uow:
            raw, _record = create_api_key(uow.session, "bursty", ["*"])
            uow.commit()
        headers = {"X-API-Key": raw}
        with TestClient(create_app(platform)) as client:
            assert [client.get("/v1/ping", headers=headers).status_code for _ in range(2)] == [
                200,
                200,
            ]
            refused = client.get("/v1/ping", headers=headers)
        # A second app (another server process) sees the same, already empty bucket.
        with TestClient(create_app(platform)) as other:
            assert other.get("/v1/ping", headers=headers).status_code == 429
    finally:
        platform.close()
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
