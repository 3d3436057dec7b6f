"""Shared pieces of the campaigns tests: a platform on SQLite or PostgreSQL, tenants with keys,
and an in-memory :class:`~ssmas.campaigns.ports.CampaignSender` (the real one lives in the
sending package)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ssmas.campaigns.ports import COUNT_KEYS, Channel, Recipient
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import Settings


@dataclass
class MemorySender:
    """Keeps what it was given; idempotent per (tenant, campaign, lead) as the port says."""

    sent: dict[tuple[int, int], dict[int, Recipient]] = field(default_factory=dict)
    templates: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)

    def enqueue(
        self,
        tenant_id: int,
        campaign_id: int,
        channel: Channel,
        template: str,
        recipients: list[Recipient],
    ) -> dict[str, int]:
        box = self.sent.setdefault((tenant_id, campaign_id), {})
        self.templates[(tenant_id, campaign_id)] = (channel, template)
        new = [r for r in recipients if r.lead_id not in box]
        for recipient in new:
            box[recipient.lead_id] = recipient
        return {"queued": len(new)}

    def counts(self, tenant_id: int, campaign_id: int) -> dict[str, int]:
        counts = dict.fromkeys(COUNT_KEYS, 0)
        counts["queued"] = len(self.sent.get((tenant_id, campaign_id), {}))
        return counts


@contextmanager
def campaigns_platform(tmp_path: Path, database_url: str | None = None) -> Iterator[Platform]:
    settings = Settings(profile="test", data_dir=tmp_path / "data", database_url=database_url)
    settings = settings.model_copy(update={"rate_limit_burst": 1_000_000})
    settings.ensure_dirs()
    platform = build_platform(settings)
    try:
        yield platform
    finally:
        platform.close()
