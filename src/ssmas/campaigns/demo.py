"""The campaigns demo: a tenant, simulated Mexican leads imported, segments by rules and by
clustering, and a campaign launched into the send ledger; the sender worker sends it through
the local fake SMS provider (served here when ``SSMAS_CAMPAIGNS_PROVIDER_URL`` is on this host),
whose delivery receipts come back to the API, so the counts on the dashboard's *Campaigns* page
rise (log in with the demo key: it is an operator's and sees every tenant). The campaign runs
with an experiment and a bandit live (:mod:`ssmas.campaigns.live.demo_loop`): simulated
recipients convert, and the *Experiments* and *Bandits* pages follow."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

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
from ssmas.campaigns.leads.scoring import score_tenant_leads
from ssmas.campaigns.live.demo_loop import LiveDemo, demo_experiment, run_live, start_live
from ssmas.campaigns.runtime import campaigns_runtime, ensure_sender
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.sending.fake_provider import FakeSmsProvider
from ssmas.campaigns.tenancy import create_tenant, get_tenant
from ssmas.core.health import wait_healthy
from ssmas.core.platform import Platform
from ssmas.settings import CampaignsSettings

__all__ = [
    "DEMO_LEADS",
    "DEMO_TENANT",
    "DemoOutcome",
    "ensure_quality_model",
    "local_provider",
    "run_demo",
    "run_demo_once",
]

DEMO_TENANT = "demo-mx"
DEMO_LEADS = 2_000
SENDER_WAIT_S = 30.0
# How long the demo watches its campaign's counts before it prints them.
WATCH_S = 120.0
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# The demo's quick lead-quality model when none is registered: few simulated leads, two folds
# and few boosting rounds (``ssmas campaigns quality train`` makes the full one).
DEMO_QUALITY = {"leads": 3_000, "test_leads": 1_000, "folds": 2, "rounds": 30, "seed": 16}
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
    live: LiveDemo | None = None


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
    _scored, summary.quality = score_tenant_leads(platform, tenant.id, tenant.slug)
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
        experiment_id = demo_experiment(scope, tenant, campaign.id, stamp)
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
    live = None
    if launched is not None:
        live = start_live(platform, tenant, campaign.id, experiment_id, stamp)
    return DemoOutcome(
        tenant.slug, summary, segment, clusters, launched or campaign, launched is not None, live
    )


def ensure_quality_model(platform: Platform) -> int | None:
    """Train and register a small lead-quality model (:data:`DEMO_QUALITY`: seconds, not the
    full command's minutes) when the registry has no champion, so the demo's leads get scores;
    the version trained, or ``None`` when a champion was there."""
    from ssmas.campaigns.quality.lifecycle import TrainConfig, train_and_decide
    from ssmas.campaigns.quality.runtime import quality_runtime
    from ssmas.core.registry import RegistryError, registry_from_settings

    runtime = quality_runtime(platform)
    if runtime.scorer is not None:
        return None
    try:
        decision = train_and_decide(
            registry_from_settings(platform.settings), TrainConfig(**DEMO_QUALITY)
        )
    except (RegistryError, ValueError, OSError) as exc:  # the demo goes on, leads unscored
        log.warning("campaigns_demo_quality_model_failed", error=str(exc)[:300])
        return None
    runtime.reload()
    log.info("campaigns_demo_quality_model", version=decision.version, auc=decision.auc)
    return decision.version


def local_provider(settings: CampaignsSettings) -> AbstractContextManager[object]:
    """The fake SMS provider on the port of ``settings.provider_url`` when that URL is on this
    host (the default), with the account and token the sender uses; else nothing to serve."""
    url = urlsplit(settings.provider_url)
    if url.hostname not in LOCAL_HOSTS or url.port is None:
        return nullcontext()
    return FakeSmsProvider(
        account_sid=settings.account_sid, auth_token=settings.auth_token, port=url.port
    )


def _watch(platform: Platform, done: DemoOutcome, stop: threading.Event) -> dict[str, int]:
    """The campaign's counts once every recipient is settled (sent on, or dropped by a rule),
    or after :data:`WATCH_S`."""
    sender = ensure_sender(platform)
    with platform.uow() as uow:
        tenant = get_tenant(uow.session, DEMO_TENANT)
    counts = sender.counts(tenant.id, done.campaign.id)
    waited = 0.0
    while waited < WATCH_S and not stop.is_set():
        counts = sender.counts(tenant.id, done.campaign.id)
        settled = counts["delivered"] + counts["failed"] + counts["opted_out"] + counts["capped"]
        if settled >= done.campaign.recipients:
            break
        stop.wait(1.0)
        waited += 1.0
    return counts


def run_demo(platform: Platform, stop: threading.Event) -> None:
    """``ssmas demo``'s campaigns scenario: serve the fake SMS provider, train a quick
    lead-quality model when none is registered, run the scenario once
    with the send ledger's sender, print what came back, then idle until ``stop``."""
    with local_provider(platform.settings.campaigns):
        api = f"http://{platform.settings.host}:{platform.settings.port}"
        if not wait_healthy(api, stop=stop, interval_s=0.25):
            return
        ensure_sender(platform)
        ensure_quality_model(platform)
        _run_demo(platform, stop)
        stop.wait()


def _run_demo(platform: Platform, stop: threading.Event) -> None:
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
    table.add_row("quality", summary.quality or "")
    table.add_row("segment", f"{done.segment.name}: {done.segment.size:,} leads")
    table.add_row("clusters", ", ".join(f"{c.name}: {c.size:,}" for c in done.clusters))
    outcome = "launched" if done.launched else "drafted (no sender in this process)"
    table.add_row(
        "campaign", f"{done.campaign.name}: {outcome}, {done.campaign.recipients:,} recipients"
    )
    if done.live is not None:
        threading.Thread(
            target=run_live, args=(done.live, stop), name="campaigns-demo-live", daemon=True
        ).start()
        experiment = (
            f"running on the campaign: /dashboard/campaigns/experiments/{done.live.experiment_id}"
            if done.live.experiment_id is not None
            else "none (the tenant's experiment quota is used up)"
        )
        table.add_row("experiment", experiment)
        table.add_row("bandit", "Thompson sampling, 12 arms: /dashboard/campaigns/bandits")
    counts = _watch(platform, done, stop) if done.launched else {}
    if counts:
        table.add_row("sending", ", ".join(f"{key} {value:,}" for key, value in counts.items()))
    Console().print(table)
    log.info("campaigns_demo_done", launched=done.launched, **counts)
