"""The campaigns demo scenario and the scheduler: a tenant, simulated leads imported, segments,
a campaign launched through the process's sender; scheduled campaigns launched when due."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ssmas.campaigns.audience import create_campaign, get_campaign
from ssmas.campaigns.demo import DEMO_TENANT, run_demo_once
from ssmas.campaigns.live import experiment_results
from ssmas.campaigns.runtime import campaigns_runtime, ensure_sender, use_sender
from ssmas.campaigns.scheduling import launch_due, run_scheduler
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.sending.fake_provider import FakeSmsProvider
from ssmas.campaigns.sending.sender import LedgerSender, Sender
from ssmas.campaigns.tenancy import get_tenant
from ssmas.core.security import create_api_key
from tests.integration.campaigns_sending_support import (
    Clock,
    free_port,
    live_api,
    sending_platform,
    sending_settings,
)
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


def _campaign_cells(client: httpx.Client, base: str, tenant: str, campaign_id: int) -> list[str]:
    """The campaign's row of the dashboard's campaigns table, cell by cell."""
    page = client.get(f"{base}/dashboard/campaigns/campaigns/rows", params={"tenant": tenant})
    assert page.status_code == 200, page.text
    for row in re.findall(r"<tr>\s*(.*?)</tr>", page.text, flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        if cells and cells[0] == str(campaign_id):
            return cells
    raise AssertionError(f"campaign {campaign_id} is not on the page")


def test_demo_campaign_is_sent_through_the_fake_provider_and_counts_rise(tmp_path: Path) -> None:
    """The demo with the platform's own sender: launch queues into the ledger, the sender sends
    through the fake SMS provider, its receipts come back to the API, and the dashboard's
    campaigns table shows sent and delivered rising to the number of recipients."""
    clock = Clock()
    port = free_port()
    with FakeSmsProvider(clock=clock) as fake:
        settings = sending_settings(tmp_path, fake.url, public_url=f"http://127.0.0.1:{port}")
        with (
            sending_platform(settings, clock) as (platform, runtime),
            live_api(platform, port) as base,
        ):
            sender = ensure_sender(platform)  # attached by the API's start hook already
            assert isinstance(sender, LedgerSender)
            done = run_demo_once(platform, leads=300)
            assert done.launched and done.campaign.recipients > 0
            recipients = done.campaign.recipients
            with platform.uow() as uow:
                tenant = get_tenant(uow.session, DEMO_TENANT)
                operator, _ = create_api_key(uow.session, "operator", ["campaigns:admin"])
                uow.commit()
            before = sender.counts(tenant.id, done.campaign.id)
            assert before["queued"] == recipients and before["sent"] == before["delivered"] == 0
            with httpx.Client(base_url=base, timeout=10.0) as client:
                login = client.post("/login", data={"api_key": operator})
                assert login.status_code == 303, login.text
                cells = _campaign_cells(client, base, tenant.slug, done.campaign.id)
                # recipients, queued, sent, delivered, failed, opted out, capped, converted
                assert cells[5:10] == [f"{recipients:,}", f"{recipients:,}", "0", "0", "0"]
                worker = Sender(runtime)
                try:
                    while worker.run_once():
                        pass
                finally:
                    worker.close()
                fake.wait_receipts()
                after = sender.counts(tenant.id, done.campaign.id)
                assert after["sent"] == recipients and after["delivered"] == recipients
                assert sum(fake.handset.values()) == recipients
                cells = _campaign_cells(client, base, tenant.slug, done.campaign.id)
                assert cells[7:9] == [f"{recipients:,}", f"{recipients:,}"]
                # the campaign's experiment and bandit, live: its sent recipients and
                # simulated ones answer; conversions reach the ledger and the pages
                live = done.live
                assert live is not None and live.experiment_id is not None
                first = live.tick(visitors=400)
                assert first["recipients"] == recipients and first["bandit_pulls"] == 400
                for _ in range(3):
                    assert live.tick(visitors=400)["recipients"] == 0  # each judged once
                converted = sender.counts(tenant.id, done.campaign.id)["converted"]
                assert 0 < converted < recipients
                cells = _campaign_cells(client, base, tenant.slug, done.campaign.id)
                assert cells[12] == f"{converted:,}"
                page = client.get(
                    f"/dashboard/campaigns/experiments/{live.experiment_id}",
                    params={"tenant": tenant.slug},
                )
                assert page.status_code == 200
                with platform.uow() as uow:
                    found = experiment_results(
                        TenantScope(uow.session, tenant.id), live.experiment_id
                    )
                assert sum(found["units"].values()) == recipients + 4 * 400
                assert found["experiment"]["campaign_id"] == done.campaign.id
                conversions = found["metrics"]["conversion"]
                assert sum(v["total"] for v in conversions.values()) >= converted
                assert 'data-series="always-valid confidence sequence"' in page.text
                bandits = client.get(
                    "/dashboard/campaigns/bandits/live", params={"tenant": tenant.slug}
                )
                assert "short @ 19:00" in bandits.text and "1,600 recipients" in bandits.text


def test_the_scheduler_worker_launches_into_the_send_ledger(tmp_path: Path) -> None:
    """``ssmas worker campaigns --only scheduler`` has no API start hook: the worker attaches
    the send ledger's sender itself, so a due campaign is queued in the ledger."""
    with campaigns_platform(tmp_path) as platform:
        done = run_demo_once(platform, leads=200)  # no sender yet: drafted
        assert not done.launched
        stopped = threading.Event()
        stopped.set()
        run_scheduler(platform, stopped)  # attaches the sender, then returns at once
        sender = campaigns_runtime(platform).sender
        assert isinstance(sender, LedgerSender)
        now = datetime.now(UTC)
        with platform.uow() as uow:
            tenant = get_tenant(uow.session, DEMO_TENANT)
            later = create_campaign(
                TenantScope(uow.session, tenant.id),
                name="scheduled",
                segment_id=done.segment.id,
                channel="sms",
                template="Hola {nombre}",
                scheduled_at=now + timedelta(minutes=5),
            )
            uow.commit()
        assert launch_due(platform, now + timedelta(minutes=5)) == 1
        counts = sender.counts(tenant.id, later.id)
        assert counts["queued"] == done.segment.size > 0 and counts["sent"] == 0
