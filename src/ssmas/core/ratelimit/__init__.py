"""Per-key rate limiting with token buckets: the ``RateLimiter`` port and its two adapters.

A bucket holds at most ``burst`` tokens and refills at ``rate`` tokens per second; each hit
takes ``cost`` tokens or is refused with the wait until enough have refilled. The in-process
``MemoryRateLimiter`` suits one server process; ``RedisRateLimiter`` shares buckets between
processes and hosts through one atomic Lua script. ``rate_limiter_from_settings`` picks one for
the API; ``open_rate_limiter`` builds one of either kind for other limits (e.g. WhatsApp send
pacing). Both adapters also have the blocking ``hit_now`` (``SyncRateLimiter``) for threads.
"""

from __future__ import annotations

from typing import Literal

from ssmas.core.ratelimit.bucket import RateDecision, RateLimiter, SyncRateLimiter, take_tokens
from ssmas.core.ratelimit.memory import MemoryRateLimiter
from ssmas.core.ratelimit.redis import RedisRateLimiter
from ssmas.settings import Settings

__all__ = [
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimiter",
    "RedisRateLimiter",
    "SyncRateLimiter",
    "open_rate_limiter",
    "rate_limiter_from_settings",
    "take_tokens",
]


def rate_limiter_from_settings(settings: Settings) -> RateLimiter:
    """The limiter named by ``settings.rate_limit_backend`` with its rate and burst (no I/O yet)."""
    rate, burst = settings.rate_limit_per_s, settings.rate_limit_burst
    if settings.rate_limit_backend == "redis":
        url = settings.redis_url or "redis://127.0.0.1:6379/0"
        return RedisRateLimiter(url, rate=rate, burst=burst)
    return MemoryRateLimiter(rate=rate, burst=burst)


def open_rate_limiter(
    backend: Literal["memory", "redis"],
    *,
    rate: float,
    burst: int,
    redis_url: str | None = None,
    prefix: str = "ssmas:ratelimit:",
    local_fallback: bool = False,
) -> MemoryRateLimiter | RedisRateLimiter:
    """Token buckets in this process (``memory``) or shared through Redis (``redis``; the URL
    defaults to the local server). ``local_fallback``: while Redis is unreachable, limit in
    process instead of letting every hit pass."""
    if backend == "redis":
        fallback = MemoryRateLimiter(rate=rate, burst=burst) if local_fallback else None
        url = redis_url or "redis://127.0.0.1:6379/0"
        return RedisRateLimiter(url, rate=rate, burst=burst, prefix=prefix, fallback=fallback)
    return MemoryRateLimiter(rate=rate, burst=burst)
