"""Token-bucket arithmetic and the in-process limiter, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import asyncio

import pytest

from ssmas.core.ratelimit import (
    MemoryRateLimiter,
    RateDecision,
    RedisRateLimiter,
    rate_limiter_from_settings,
    take_tokens,
)
from ssmas.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_take_tokens_refills_up_to_burst() -> None:
    left, decision = take_tokens(0.0, last=0.0, now=100.0, rate=2.0, burst=5, cost=1.0)
    assert decision.allowed and left == 4.0  # refilled to the cap of 5, not 200
    left, decision = take_tokens(0.5, last=0.0, now=0.25, rate=2.0, burst=5, cost=1.0)
    assert decision.allowed and left == pytest.approx(0.0)
    left, decision = take_tokens(0.0, last=0.0, now=0.0, rate=2.0, burst=5, cost=1.0)
    assert not decision.allowed and left == 0.0
    assert decision.retry_after_s == pytest.approx(0.5)


def test_clock_going_backwards_adds_nothing() -> None:
    left, decision = take_tokens(1.0, last=10.0, now=5.0, rate=100.0, burst=5, cost=1.0)
    assert decision.allowed and left == 0.0


def test_burst_then_refusal_then_refill() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.hit_now("a").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.hit_now("a")
    assert refused.retry_after_s == pytest.approx(0.5)
    assert refused.retry_after_header == "1"  # whole seconds, at least one
    clock.now += 0.5
    assert limiter.hit_now("a").allowed
    assert not limiter.hit_now("a").allowed
    assert limiter.hit_now("b").allowed  # buckets are per key


def test_refused_hit_takes_nothing() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate=1.0, burst=2, clock=clock)
    limiter.hit_now("k", cost=2)
    for _ in range(5):
        assert not limiter.hit_now("k").allowed
    clock.now += 1.0
    assert limiter.hit_now("k").allowed  # the refusals did not push the refill back


def test_async_hit_and_close() -> None:
    limiter = MemoryRateLimiter(rate=1.0, burst=1, clock=FakeClock())

    async def scenario() -> list[bool]:
        first = await limiter.hit("k")
        second = await limiter.hit("k")
        await limiter.close()
        third = await limiter.hit("k")  # close forgot the buckets
        return [first.allowed, second.allowed, third.allowed]

    assert asyncio.run(scenario()) == [True, False, True]


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 5), (-1.0, 5), (1.0, 0)])
def test_impossible_buckets_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        MemoryRateLimiter(rate=rate, burst=burst)


@pytest.mark.parametrize("cost", [0, -1, 11])
def test_impossible_costs_are_refused(cost: float) -> None:
    limiter = MemoryRateLimiter(rate=1.0, burst=10)
    with pytest.raises(ValueError, match="cost"):
        limiter.hit_now("k", cost=cost)


def test_retry_after_header_rounds_up() -> None:
    assert RateDecision(False, 0.0, 0.01).retry_after_header == "1"
    assert RateDecision(False, 0.0, 2.2).retry_after_header == "3"
    assert RateDecision(True, 3.0).retry_after_header == "1"


def test_backend_is_chosen_by_settings() -> None:
    memory = rate_limiter_from_settings(Settings(rate_limit_per_s=7.0, rate_limit_burst=9))
    assert isinstance(memory, MemoryRateLimiter)
    assert (memory.rate, memory.burst) == (7.0, 9)
    shared = rate_limiter_from_settings(
        Settings(rate_limit_backend="redis", redis_url="redis://127.0.0.1:1/0")
    )
    assert isinstance(shared, RedisRateLimiter)  # constructed without connecting
