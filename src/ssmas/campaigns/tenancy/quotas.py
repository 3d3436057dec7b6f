"""Quotas enforced: validations a minute through token buckets (``ssmas.core.ratelimit``, one
bucket per tenant sized by its tier), messages a UTC day and running experiments from the
metered usage. A refusal is :class:`~ssmas.campaigns.errors.QuotaExceeded` (429 with
``Retry-After``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from ssmas.campaigns.counters import QUOTA_REFUSALS
from ssmas.campaigns.errors import QuotaExceeded
from ssmas.campaigns.tables import Tenant
from ssmas.campaigns.tenancy.tenants import usage_between
from ssmas.campaigns.tenancy.tiers import TIERS, tier_of
from ssmas.core.ratelimit import MemoryRateLimiter, RedisRateLimiter, open_rate_limiter

__all__ = ["QuotaGuard", "check_experiments", "check_messages", "seconds_to_midnight"]


class QuotaGuard:
    """The validation buckets of every tier: ``validations_per_minute`` tokens refilling over a
    minute, one bucket per tenant (in this process, or shared through Redis)."""

    def __init__(
        self, backend: Literal["memory", "redis"] = "memory", redis_url: str | None = None
    ) -> None:
        self._limiters: dict[str, MemoryRateLimiter | RedisRateLimiter] = {}
        for name, tier in TIERS.items():
            per_minute = tier.quotas.validations_per_minute
            self._limiters[name] = open_rate_limiter(
                backend,
                rate=per_minute / 60.0,
                burst=per_minute,
                redis_url=redis_url,
                prefix=f"ssmas:campaigns:validations:{name}:",
                local_fallback=True,
            )

    async def take_validations(self, tenant: Tenant, count: int) -> None:
        """Take ``count`` validations from the tenant's minute, or :class:`QuotaExceeded`."""
        limiter = self._limiters[tenant.tier]
        if count > limiter.burst:
            QUOTA_REFUSALS.labels("validations").inc()
            raise QuotaExceeded(
                f"{count} validations at once exceed the {tenant.tier} tier's "
                f"{limiter.burst} a minute; send smaller batches",
                60.0,
            )
        decision = await limiter.hit(f"tenant:{tenant.id}", float(count))
        if not decision.allowed:
            QUOTA_REFUSALS.labels("validations").inc()
            raise QuotaExceeded(
                f"validations quota of {limiter.burst} a minute used up for tenant {tenant.slug!r}",
                decision.retry_after_s,
            )

    async def close(self) -> None:
        for limiter in self._limiters.values():
            await limiter.close()

    def close_now(self) -> None:
        for limiter in self._limiters.values():
            limiter.close_now()


def seconds_to_midnight(now: datetime) -> float:
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=UTC)
    return (tomorrow - now).total_seconds()


def check_messages(session: Session, tenant: Tenant, count: int, now: datetime) -> None:
    """Refuse ``count`` more messages today when they would pass the daily quota."""
    quota = tier_of(tenant.tier).quotas.messages_per_day
    today: date = now.astimezone(UTC).date()
    used = usage_between(session, tenant.id, today, today)["messages"]
    if used + count > quota:
        QUOTA_REFUSALS.labels("messages").inc()
        raise QuotaExceeded(
            f"{count} messages would pass tenant {tenant.slug!r}'s quota of {quota:,} a day "
            f"({used:,} used today)",
            seconds_to_midnight(now.astimezone(UTC)),
        )


def check_experiments(tenant: Tenant, running: int) -> None:
    """Refuse one more experiment when ``running`` already reach the tier's quota."""
    quota = tier_of(tenant.tier).quotas.experiments
    if running >= quota:
        QUOTA_REFUSALS.labels("experiments").inc()
        raise QuotaExceeded(
            f"tenant {tenant.slug!r} runs {running} experiments, its quota is {quota}",
            3600.0,
        )
