"""The token-bucket contract: the decision type, the port, and the refill arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Outcome of one hit: allowed or not, tokens left, and seconds to wait when refused."""

    allowed: bool
    remaining: float
    retry_after_s: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


class RateLimiter(Protocol):
    """Token buckets keyed by a string (an API key id, a tenant, a phone hash).

    ``hit`` takes ``cost`` tokens from ``key``'s bucket if it holds that many; a refused hit
    takes nothing. ``rate`` / ``burst`` given to ``hit`` size that bucket instead of the
    limiter's own (per-key limits, e.g. an API key's tier). ``close`` releases connections; the
    limiter is unusable afterwards.
    """

    rate: float
    burst: int

    async def hit(
        self, key: str, cost: float = 1.0, *, rate: float | None = None, burst: int | None = None
    ) -> RateDecision: ...

    async def close(self) -> None: ...


class SyncRateLimiter(Protocol):
    """The blocking form of the port, for threads outside an event loop (both adapters have it).

    ``close_now`` releases the connections ``hit_now`` opened."""

    rate: float
    burst: int

    def hit_now(
        self, key: str, cost: float = 1.0, *, rate: float | None = None, burst: int | None = None
    ) -> RateDecision: ...

    def close_now(self) -> None: ...


def check_limits(rate: float, burst: int) -> None:
    """Refuse buckets that could never admit a request."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0 tokens per second, got {rate}")
    if burst < 1:
        raise ValueError(f"burst must be >= 1 token, got {burst}")


def check_cost(cost: float, burst: int) -> None:
    """Refuse a hit that no bucket of this size can ever satisfy."""
    if not 0 < cost <= burst:
        raise ValueError(f"cost must be in (0, burst={burst}], got {cost}")


def take_tokens(
    tokens: float, last: float, now: float, *, rate: float, burst: int, cost: float
) -> tuple[float, RateDecision]:
    """Refill a bucket from ``last`` to ``now`` and try to take ``cost``; return new tokens."""
    elapsed = max(0.0, now - last)
    level = min(float(burst), tokens + elapsed * rate)
    if level >= cost:
        left = level - cost
        return left, RateDecision(allowed=True, remaining=left)
    return level, RateDecision(allowed=False, remaining=level, retry_after_s=(cost - level) / rate)
