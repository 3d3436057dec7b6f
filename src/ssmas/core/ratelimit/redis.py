"""Token buckets in Redis, shared by every process: one Lua script reads, refills and takes.

The script uses the Redis server clock (``TIME``), so buckets agree across hosts with skewed
clocks. If Redis is unreachable the limiter fails open (the request passes) and logs a warning
at most every ten seconds: an outage of the limiter must not become an outage of the API.
"""

from __future__ import annotations

import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ssmas.core.ratelimit.bucket import RateDecision, check_cost, check_limits

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
        self, url: str, *, rate: float, burst: int, prefix: str = "ssmas:ratelimit:"
    ) -> None:
        check_limits(rate, burst)
        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self._client = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        self._script = self._client.register_script(_TAKE)
        self._last_warning = 0.0

    async def hit(self, key: str, cost: float = 1.0) -> RateDecision:
        check_cost(cost, self.burst)
        try:
            raw = await self._script(
                keys=[self.prefix + key], args=[repr(self.rate), self.burst, repr(cost)]
            )
        except (RedisError, OSError) as exc:
            self._warn(exc)
            return RateDecision(allowed=True, remaining=float(self.burst))
        allowed, left, wait = (float(part) for part in raw)
        return RateDecision(allowed=allowed == 1.0, remaining=left, retry_after_s=wait)

    async def close(self) -> None:
        await self._client.aclose()  # type: ignore[attr-defined]

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            _log.warning("ratelimit_redis_unavailable", error=type(exc).__name__)
