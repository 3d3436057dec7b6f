"""The campaigns demo scenario and the scheduler: a tenant, simulated leads imported, segments,
a campaign launched through the process's sender; scheduled campaigns launched when due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ssmas.campaigns.audience import create_campaign, get_campaign
from ssmas.campaigns.demo import run_demo_once
from ssmas.campaigns.runtime import use_sender
from ssmas.campaigns.scheduling import launch_due
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tenancy import get_tenant
from tests.integration.campaigns_support import MemorySender, campaigns_platform


def test_demo_launches_a_campaign_and_the_scheduler_launches_when_due(tmp_path: Path) -> None:
    with campaigns_platform(tmp_path) as platform:
        drafted = run_demo_once(platform, leads=300)
        assert not drafted.launched and drafted.campaign.status == "draft"
        sender = MemorySender()
        use_sender(platform, sender)
        done = run_demo_once(platform, leads=300)
        assert done.tenant == "demo-mx"
        assert done.imported.rows == 300 and done.imported.updated > 0  # the second import
        assert done.launched and done.campaign.recipients == done.segment.size > 0
        assert len(sender.sent) == 1
        assert sum(c.size for c in done.clusters) >= done.segment.size
        recipient = next(iter(next(iter(sender.sent.values())).values()))
        assert recipient.e164.startswith("+52") and set(recipient.variables) == {"nombre", "city"}

        now = datetime.now(UTC)
        with platform.uow() as uow:
            tenant = get_tenant(uow.session, "demo-mx")
            scope = TenantScope(uow.session, tenant.id)
            later = create_campaign(
                scope,
                name="later",
                segment_id=done.segment.id,
                channel="whatsapp",
                template="Hola {nombre}",
                scheduled_at=now + timedelta(hours=1),
            )
            uow.commit()
        assert later.status == "scheduled"
        assert launch_due(platform, now) == 0
        assert launch_due(platform, now + timedelta(hours=1)) == 1
        assert launch_due(platform, now + timedelta(hours=2)) == 0
        with platform.uow() as uow:
            shown = get_campaign(TenantScope(uow.session, tenant.id), later.id, sender)
        assert shown.status == "launched" and shown.counts["queued"] == done.segment.size
