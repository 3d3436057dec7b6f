"""One platform's sending runtime: the provider client, the PII cipher, the tenant limiter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from ssmas.campaigns.sending.provider import SmsProvider, TwilioClient
from ssmas.campaigns.sending.schedule import QuietHours
from ssmas.core.bus import Bus
from ssmas.core.db import utcnow
from ssmas.core.platform import Platform
from ssmas.core.ratelimit import MemoryRateLimiter, RedisRateLimiter, open_rate_limiter
from ssmas.core.security import PiiCipher, pii_cipher_from_settings
from ssmas.settings import CampaignsSettings

RUNTIME = "campaigns.sending"
RECEIPTS_PATH = "/v1/campaigns/sms/receipts"
INBOUND_PATH = "/v1/campaigns/sms/inbound"


@dataclass
class SendingRuntime:
    """What sending needs in one process; ``close`` releases the provider's connections."""

    settings: CampaignsSettings
    session_factory: sessionmaker[Session]
    bus: Bus
    cipher: PiiCipher
    provider: SmsProvider
    limiter: MemoryRateLimiter | RedisRateLimiter
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def quiet(self) -> QuietHours:
        return QuietHours(self.settings.quiet_start_hour, self.settings.quiet_end_hour)

    def receipts_url(self, key: str) -> str:
        """The status callback of one message: the key finds its row before its sid does."""
        return f"{self.settings.public_url.rstrip('/')}{RECEIPTS_PATH}?k={key}"

    def close(self) -> None:
        self.provider.close()
        self.limiter.close_now()


def build_sending_runtime(platform: Platform) -> SendingRuntime:
    s = platform.settings
    cs = s.campaigns
    provider = TwilioClient(
        cs.provider_url,
        cs.account_sid,
        cs.auth_token,
        cs.from_number,
        timeout_s=cs.send_timeout_s,
        attempts=cs.send_attempts,
    )
    limiter = open_rate_limiter(
        s.rate_limit_backend,
        rate=cs.tenant_rate_per_s,
        burst=cs.tenant_burst,
        redis_url=s.redis_url,
        prefix="ssmas:campaigns:tenant:",
        local_fallback=True,
    )
    return SendingRuntime(
        settings=cs,
        session_factory=platform.session_factory,
        bus=platform.bus,
        cipher=pii_cipher_from_settings(s),
        provider=provider,
        limiter=limiter,
    )


def sending_runtime(platform: Platform) -> SendingRuntime:
    """This platform's sending runtime, built on first use."""
    return platform.runtime_or_build(RUNTIME, SendingRuntime, build_sending_runtime)
