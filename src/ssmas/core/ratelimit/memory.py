"""In-process token buckets: exact and fast, but each server process keeps its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ssmas.core.ratelimit.bucket import RateDecision, check_cost, check_limits, take_tokens


class MemoryRateLimiter:
    """Token buckets in a dict; thread-safe; ``clock`` (monotonic seconds) is injectable."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        check_limits(rate, burst)
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit_now(
        self, key: str, cost: float = 1.0, *, rate: float | None = None, burst: int | None = None
    ) -> RateDecision:
        """Synchronous form of ``hit`` for callers outside an event loop."""
        rate = self.rate if rate is None else rate
        burst = self.burst if burst is None else burst
        if (rate, burst) != (self.rate, self.burst):
            check_limits(rate, burst)
        check_cost(cost, burst)
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(burst), now))
            left, decision = take_tokens(tokens, last, now, rate=rate, burst=burst, cost=cost)
            self._buckets[key] = (left, now)
        return decision

    async def hit(
        self, key: str, cost: float = 1.0, *, rate: float | None = None, burst: int | None = None
    ) -> RateDecision:
        return self.hit_now(key, cost, rate=rate, burst=burst)

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        with self._lock:
            self._buckets.clear()
