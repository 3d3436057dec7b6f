"""The campaigns product's per-process state, attached to the platform as ``"campaigns"``:
the PII cipher, the bulk validator (its worker processes start on the first large batch), the
validation quota buckets and the campaign sender once one is known (:func:`use_sender`). The
API's start hook and the scheduler worker attach the send ledger's sender
(:func:`ensure_sender`): ``launch`` queues into the ledger and counts come from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssmas.campaigns.phone import BulkValidator
from ssmas.campaigns.ports import CampaignSender
from ssmas.campaigns.tenancy import QuotaGuard
from ssmas.core.platform import Platform
from ssmas.core.security.pii import PiiCipher, pii_cipher_from_settings

__all__ = [
    "NAME",
    "CampaignsRuntime",
    "campaigns_runtime",
    "ensure_sender",
    "setup",
    "use_sender",
]

NAME = "campaigns"


@dataclass
class CampaignsRuntime:
    """What the campaigns routes, commands and workers of one process share."""

    cipher: PiiCipher
    validator: BulkValidator
    quotas: QuotaGuard
    sender: CampaignSender | None = None

    def close(self) -> None:
        self.validator.close()
        self.quotas.close_now()


def _build(platform: Platform) -> CampaignsRuntime:
    settings = platform.settings
    return CampaignsRuntime(
        cipher=pii_cipher_from_settings(settings),
        validator=BulkValidator(),
        quotas=QuotaGuard(settings.rate_limit_backend, settings.redis_url),
    )


def campaigns_runtime(platform: Platform) -> CampaignsRuntime:
    """The platform's campaigns runtime, built on first use."""
    return platform.runtime_or_build(NAME, CampaignsRuntime, _build)


def use_sender(platform: Platform, sender: CampaignSender) -> None:
    """Make ``sender`` the one ``launch`` hands recipients to in this process."""
    campaigns_runtime(platform).sender = sender


def ensure_sender(platform: Platform) -> CampaignSender:
    """The process's sender; the send ledger's (``ssmas.campaigns.sending``) unless one is
    already attached."""
    runtime = campaigns_runtime(platform)
    if runtime.sender is None:
        from ssmas.campaigns.sending.sender import campaign_sender

        runtime.sender = campaign_sender(platform)
    return runtime.sender


def setup(platform: Platform) -> None:
    """Product start: build the runtime (and fail fast on a bad PII key) and attach the send
    ledger's sender."""
    ensure_sender(platform)
