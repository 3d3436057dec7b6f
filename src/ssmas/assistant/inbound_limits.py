"""Inbound rate limits: per business number at the webhook, per customer in the pipeline.

Neither loses anything. A business number flooded past ``inbound_number_per_s`` gets 429 with
``Retry-After`` (Meta delivers again later, as it does after any non-200). A customer past
``inbound_sender_per_min`` (a script, a stuck client, abuse) still has every message stored;
the bot just stops answering until their bucket refills, so one sender cannot take the
workers' time from everyone else. Buckets are token buckets on the pacing backend (Redis
shares them between processes; memory otherwise), keyed by a blind index, never a number.
"""

from __future__ import annotations

from ssmas.core.ratelimit import MemoryRateLimiter, RedisRateLimiter, open_rate_limiter
from ssmas.core.security import PiiCipher
from ssmas.settings import WhatsAppSettings

PREFIX = "ssmas:assistant:inbound:"


def _limiter(wa: WhatsAppSettings, rate: float, burst: int) -> MemoryRateLimiter | RedisRateLimiter:
    return open_rate_limiter(
        wa.pacing_backend or "memory",
        rate=rate,
        burst=burst,
        redis_url=wa.pacing_redis_url,
        prefix=PREFIX,
        local_fallback=True,
    )


class SenderLimit:
    """Per-customer token bucket: ``allow`` says whether this message may be answered."""

    def __init__(self, wa: WhatsAppSettings, cipher: PiiCipher) -> None:
        self.cipher = cipher
        rate = wa.inbound_sender_per_min / 60.0
        self.limiter = _limiter(wa, rate, wa.inbound_sender_burst) if rate > 0 else None

    def allow(self, business_id: str, phone: str) -> bool:
        if self.limiter is None:
            return True
        key = "s:" + self.cipher.blind_index(f"{business_id}:{phone}")[:32]
        return self.limiter.hit_now(key).allowed

    def close(self) -> None:
        if self.limiter is not None:
            self.limiter.close_now()


class NumberLimit:
    """Per-business-number token bucket for the webhook (async)."""

    def __init__(self, wa: WhatsAppSettings) -> None:
        rate = wa.inbound_number_per_s
        burst = max(1, int(2 * rate))
        self.limiter = _limiter(wa, rate, burst) if rate > 0 else None

    def close(self) -> None:
        if self.limiter is not None:
            self.limiter.close_now()

    async def retry_after(self, number_ids: set[str]) -> float:
        """0 when every number of the delivery may pass, else the seconds to wait."""
        if self.limiter is None:
            return 0.0
        wait = 0.0
        for number in sorted(number_ids):
            decision = await self.limiter.hit("n:" + number)
            if not decision.allowed:
                wait = max(wait, decision.retry_after_s)
        return wait
