"""Token buckets in Redis, shared by every process: one Lua script reads, refills and takes.

The script uses the Redis server clock (``TIME``), so buckets agree across hosts with skewed
clocks. If Redis is unreachable the limiter fails open (the request passes) and logs a warning
at most every ten seconds: an outage of the limiter must not become an outage of the API. With a
``fallback`` limiter it asks that one instead (e.g. an in-process bucket: each process then
keeps its own limit until Redis is back).

``hit`` is for event loops (``redis.asyncio``); ``hit_now`` blocks (a synchronous client, opened
on first use), for worker threads; both run the same script on the same buckets.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ssmas.core.ratelimit.bucket import RateDecision, SyncRateLimiter, check_cost, check_limits

_log = structlog.get_logger(__name__)

# KEYS[1] bucket; ARGV rate, burst, cost. Returns {allowed, tokens_left, wait_s} as strings
# because Lua numbers returned to Redis are truncated to integers.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
local elapsed = now - last
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {tostring(allowed), tostring(tokens), tostring(wait)}
"""

_WARN_EVERY_S = 10.0


class RedisRateLimiter:
    """Token buckets under ``<prefix><key>`` in Redis; the connection opens on first hit."""

    def __init__(
        self,
        url: str,
        *,
        rate: float,
        burst: int,
        prefix: str = "ssmas:ratelimit:",
        fallback: SyncRateLimiter | None = None,
    ) -> None:
        check_limits(rate, burst)
        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self.url = url
        self.fallback = fallback
        self._client = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        self._script = self._client.register_script(_TAKE)
        self._sync_client: redis.Redis | None = None
        self._sync_script: Any = None
        self._sync_lock = threading.Lock()
        self._last_warning = 0.0

    def _limits(self, rate: float | None, burst: int | None, cost: float) -> tuple[float, int]:
        rate = self.rate if rate is None else rate
        burst = self.burst if burst is None else burst
        if (rate, burst) != (self.rate, self.burst):
            check_limits(rate, burst)
        check_cost(cost, burst)
        return rate, burst

    def _unavailable(
        self, key: str, cost: float, exc: Exception, rate: float, burst: int
    ) -> RateDecision:
        self._warn(exc)
        if self.fallback is not None:
            return self.fallback.hit_now(key, cost, rate=rate, burst=burst)
        return RateDecision(allowed=True, remaining=float(burst))

    @staticmethod
    def _decision(raw: list[bytes]) -> RateDecision:
        allowed, left, wait = (float(part) for part in raw)
        return RateDecision(allowed=allowed == 1.0, remaining=left, retry_after_s=wait)

    async def hit(
        self, key: str, cost: float = 1.0, *, rate: float | None = None, burst: int | None = None
    ) -> RateDecision:
        rate, burst = self._limits(rate, burst, cost)
        try:
            raw = await self._script(keys=[self.prefix + key], args=[repr(rate), burst, repr(cost)])
        except (RedisError, OSError) as exc:
            return self._unavailable(key, cost, exc, rate, burst)
        return self._decision(raw)

    def hit_now(
        self, key: str, cost: float = 1.0, *, rate: float | None = None, burst: int | None = None
    ) -> RateDecision:
        """The blocking ``hit``, on a synchronous connection pool shared by the threads."""
        rate, burst = self._limits(rate, burst, cost)
        try:
            raw = self._sync()(keys=[self.prefix + key], args=[repr(rate), burst, repr(cost)])
        except (RedisError, OSError) as exc:
            return self._unavailable(key, cost, exc, rate, burst)
        return self._decision(raw)

    def _sync(self) -> Any:
        with self._sync_lock:
            if self._sync_script is None:
                self._sync_client = redis.Redis.from_url(
                    self.url, socket_connect_timeout=1.0, socket_timeout=1.0
                )
                self._sync_script = self._sync_client.register_script(_TAKE)
            return self._sync_script

    async def close(self) -> None:
        self.close_now()
        await self._client.aclose()  # type: ignore[attr-defined]

    def close_now(self) -> None:
        """Close the synchronous connections (``close`` closes both kinds)."""
        with self._sync_lock:
            client, self._sync_client, self._sync_script = self._sync_client, None, None
        if client is not None:
            client.close()

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            _log.warning("ratelimit_redis_unavailable", error=type(exc).__name__)
