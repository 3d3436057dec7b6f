"""The campaigns demo: a tenant, simulated Mexican leads imported, segments by rules and by
clustering, and a campaign launched through the process's sender, live on the dashboard's
*Campaigns* pages (log in with the demo key: it is an operator's and sees every tenant)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from rich.console import Console
from rich.table import Table

from ssmas.campaigns.audience import (
    CampaignView,
    Condition,
    SegmentView,
    cluster_segments,
    create_campaign,
    create_rule_segment,
    launch_campaign,
)
from ssmas.campaigns.errors import NotFound
from ssmas.campaigns.leads import ImportSummary, import_leads, simulated_leads_csv
from ssmas.campaigns.runtime import campaigns_runtime
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tenancy import create_tenant, get_tenant
from ssmas.core.platform import Platform

__all__ = ["DEMO_LEADS", "DEMO_TENANT", "DemoOutcome", "run_demo", "run_demo_once"]

DEMO_TENANT = "demo-mx"
DEMO_LEADS = 2_000
SENDER_WAIT_S = 30.0
DEMO_TEMPLATE = "Hola {nombre}: 30% en tu tienda de {city} este fin. Responde BAJA para salir."
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DemoOutcome:
    tenant: str
    imported: ImportSummary
    segment: SegmentView
    clusters: list[SegmentView]
    campaign: CampaignView
    launched: bool


def run_demo_once(
    platform: Platform,
    *,
    leads: int = DEMO_LEADS,
    sender_wait_s: float = 0.0,
    stop: threading.Event | None = None,
) -> DemoOutcome:
    """Create (or reuse) the demo tenant, import ``leads`` simulated leads, segment them and
    launch a campaign when a sender is known within ``sender_wait_s``; what it did."""
    runtime = campaigns_runtime(platform)
    with platform.uow() as uow:
        try:
            tenant = get_tenant(uow.session, DEMO_TENANT)
        except NotFound:
            tenant = create_tenant(uow.session, DEMO_TENANT, "Demo México", "growth")
            uow.commit()
    summary = import_leads(
        platform.session_factory,
        tenant.id,
        "demo-leads.csv",
        simulated_leads_csv(leads, seed=16),
        cipher=runtime.cipher,
        checker=runtime.validator,
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    with platform.uow() as uow:
        scope = TenantScope(uow.session, tenant.id)
        segment = create_rule_segment(
            scope,
            f"Metro WhatsApp {stamp}",
            [
                Condition(field="whatsapp", op="eq", value=True),
                Condition(field="lada", op="in", value=["55", "56", "33", "81"]),
            ],
        )
        clusters = cluster_segments(scope, f"Cluster {stamp}", k=4)
        campaign = create_campaign(
            scope,
            name=f"Buen Fin {stamp}",
            segment_id=segment.id,
            channel="sms",
            template=DEMO_TEMPLATE,
        )
        uow.commit()
    waiter = stop or threading.Event()
    waited = 0.0
    while runtime.sender is None and waited < sender_wait_s and not waiter.is_set():
        waiter.wait(0.5)
        waited += 0.5
    launched = None
    if runtime.sender is not None:
        with platform.uow() as uow:
            launched = launch_campaign(
                TenantScope(uow.session, tenant.id),
                tenant,
                campaign.id,
                cipher=runtime.cipher,
                sender=runtime.sender,
                now=datetime.now(UTC),
            )
            uow.commit()
    return DemoOutcome(
        tenant.slug, summary, segment, clusters, launched or campaign, launched is not None
    )


def run_demo(platform: Platform, stop: threading.Event) -> None:
    """``ssmas demo``'s campaigns scenario: once, then idle until ``stop``."""
    done = run_demo_once(platform, sender_wait_s=SENDER_WAIT_S, stop=stop)
    summary = done.imported
    table = Table(title="Campaigns demo: tenant demo-mx")
    table.add_column("step")
    table.add_column("outcome", overflow="fold")
    table.add_row(
        "import",
        f"{summary.rows:,} rows: {summary.created:,} new, {summary.updated:,} updated, "
        f"{summary.duplicates:,} repeated, {summary.rejected:,} rejected",
    )
    table.add_row("segment", f"{done.segment.name}: {done.segment.size:,} leads")
    table.add_row("clusters", ", ".join(f"{c.name}: {c.size:,}" for c in done.clusters))
    outcome = "launched" if done.launched else "drafted (no sender in this process)"
    table.add_row(
        "campaign", f"{done.campaign.name}: {outcome}, {done.campaign.recipients:,} recipients"
    )
    Console().print(table)
    log.info("campaigns_demo_done", launched=done.launched)
    stop.wait()
