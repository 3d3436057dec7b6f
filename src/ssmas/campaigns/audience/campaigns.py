"""Campaigns (the seed's ``AutoCampaignManager``, its creation and launch): a template, an
audience (a segment), a channel and an optional schedule; ``launch`` builds the recipient list
and hands it to the :class:`~ssmas.campaigns.ports.CampaignSender` once.

A campaign is launched at most once (a second launch is a 409); the day's message quota is
checked against the whole recipient list before anything is handed over, and the messages the
sender queued are metered. Leads without a value for one of the template's variables are
skipped and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ssmas.campaigns.audience.segments import audience_query
from ssmas.campaigns.audience.templates import BUILT_IN, template_variables
from ssmas.campaigns.counters import RECIPIENTS
from ssmas.campaigns.errors import Conflict, InvalidInput
from ssmas.campaigns.ports import COUNT_KEYS, CampaignSender, Recipient
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Campaign, Lead, Segment, Tenant
from ssmas.campaigns.tenancy import check_messages, meter
from ssmas.core.security.pii import PiiCipher

__all__ = [
    "CampaignView",
    "create_campaign",
    "due_campaigns",
    "get_campaign",
    "launch_campaign",
    "list_campaigns",
    "recipients_of",
]

ChannelName = Literal["sms", "whatsapp"]


@dataclass(frozen=True, slots=True)
class CampaignView:
    """A campaign as shown, with its delivery and conversion counts so far."""

    id: int
    name: str
    channel: str
    segment_id: int
    template: str
    variables: list[str]
    status: str
    scheduled_at: datetime | None
    launched_at: datetime | None
    recipients: int
    skipped: int
    counts: dict[str, int]
    created_at: datetime


def _view(campaign: Campaign, counts: dict[str, int] | None = None) -> CampaignView:
    shown = dict.fromkeys(COUNT_KEYS, 0)
    shown.update(campaign.enqueued or {})
    shown.update(counts or {})
    return CampaignView(
        campaign.id,
        campaign.name,
        campaign.channel,
        campaign.segment_id,
        campaign.template,
        list(campaign.variables or []),
        campaign.status,
        campaign.scheduled_at,
        campaign.launched_at,
        campaign.recipients,
        campaign.skipped,
        shown,
        campaign.created_at,
    )


def _audience_columns(scope: TenantScope, segment: Segment) -> set[str]:
    query = audience_query(scope, segment).with_only_columns(Lead.attribute_names).order_by(None)
    names: set[str] = set(BUILT_IN)
    for listed in scope.session.scalars(query.distinct()):
        names.update(listed or [])
    return names


def create_campaign(
    scope: TenantScope,
    *,
    name: str,
    segment_id: int,
    channel: ChannelName,
    template: str,
    scheduled_at: datetime | None = None,
) -> CampaignView:
    """A draft (or, with ``scheduled_at``, scheduled) campaign; :class:`InvalidInput` when the
    template uses a variable no lead of the segment has."""
    if not name.strip() or len(name) > 200:
        raise InvalidInput(message="a campaign needs a name of 1 to 200 characters")
    segment = scope.get(Segment, segment_id, "segment")
    variables = template_variables(template)
    known = _audience_columns(scope, segment)
    missing = [v for v in variables if v not in known]
    if missing:
        raise InvalidInput(
            message=f"the template uses {', '.join('{' + m + '}' for m in missing)}, which no "
            f"lead of segment {segment.id} has (known: {', '.join(sorted(known))})"
        )
    campaign = scope.add(
        Campaign(
            name=name.strip(),
            segment_id=segment.id,
            channel=channel,
            template=template,
            variables=variables,
            status="scheduled" if scheduled_at is not None else "draft",
            scheduled_at=scheduled_at,
            enqueued={},
        )
    )
    return _view(campaign)


def recipients_of(
    scope: TenantScope, campaign: Campaign, cipher: PiiCipher
) -> tuple[list[Recipient], int]:
    """The campaign's recipients and how many leads were skipped for a missing variable."""
    segment = scope.get(Segment, campaign.segment_id, "segment")
    recipients: list[Recipient] = []
    skipped = 0
    wanted = list(campaign.variables or [])
    for lead in scope.session.scalars(audience_query(scope, segment)):
        values: dict[str, str] = {}
        if lead.attributes_enc:
            values.update(json.loads(cipher.decrypt(lead.attributes_enc)))
        if lead.city:
            values["city"] = lead.city
        if lead.state:
            values["state"] = lead.state
        if any(not values.get(name) for name in wanted):
            skipped += 1
            continue
        variables = {name: values[name] for name in wanted}
        recipients.append(
            Recipient(lead.id, cipher.decrypt(lead.phone_enc), variables, lead.time_zone)
        )
    return recipients, skipped


def launch_campaign(
    scope: TenantScope,
    tenant: Tenant,
    campaign_id: int,
    *,
    cipher: PiiCipher,
    sender: CampaignSender,
    now: datetime,
) -> CampaignView:
    """Hand the campaign's recipients to ``sender`` (once); 409 when already launched, 429
    when the recipients would pass the day's message quota."""
    campaign = scope.get(Campaign, campaign_id, "campaign")
    if campaign.status == "launched":
        raise Conflict(message=f"campaign {campaign.id} was launched at {campaign.launched_at}")
    recipients, skipped = recipients_of(scope, campaign, cipher)
    check_messages(scope.session, tenant, len(recipients), now)
    channel: ChannelName = "whatsapp" if campaign.channel == "whatsapp" else "sms"
    counts = _enqueue(scope, tenant, campaign, channel, recipients, sender, now)
    RECIPIENTS.labels(channel).inc(len(recipients))
    campaign.status = "launched"
    campaign.launched_at = now
    campaign.recipients = len(recipients)
    campaign.skipped = skipped
    campaign.enqueued = {key: int(value) for key, value in counts.items()}
    meter(scope.session, tenant.id, "messages", int(counts.get("queued", 0)), now.date())
    scope.session.flush()
    return _view(campaign, counts)


LAUNCH_CHUNK = 50


def _enqueue(
    scope: TenantScope,
    tenant: Tenant,
    campaign: Campaign,
    channel: ChannelName,
    recipients: list[Recipient],
    sender: CampaignSender,
    now: datetime,
) -> dict[str, int]:
    """Hand the recipients over: all with the campaign's text, or, when a running experiment
    gives its variants their own texts, each variant's recipients with theirs. The units are
    not recorded here: a recipient is exposed when its message is sent, and is assigned then
    (the same variant: the same hash)."""
    from ssmas.campaigns.live.experiments import split_recipients

    split = split_recipients(scope, campaign.id, [r.lead_id for r in recipients])
    if split is None:
        return dict(sender.enqueue(tenant.id, campaign.id, channel, campaign.template, recipients))
    _experiment_id, groups = split
    by_lead = {r.lead_id: r for r in recipients}
    counts: dict[str, int] = {}
    # the variants' recipients in alternating chunks, so the ledger sends the arms side by side
    # (one arm first would expose it first, and skew every early look at the experiment)
    texts = [text for text, _leads in groups.values()]
    pieces = [
        [leads[i : i + LAUNCH_CHUNK] for i in range(0, len(leads), LAUNCH_CHUNK)]
        for _text, leads in groups.values()
    ]
    for turn in range(max((len(p) for p in pieces), default=0)):
        for text, chunks in zip(texts, pieces, strict=True):
            if turn >= len(chunks):
                continue
            group = [by_lead[lead] for lead in chunks[turn]]
            got = sender.enqueue(tenant.id, campaign.id, channel, text or campaign.template, group)
            for key, value in got.items():
                counts[key] = counts.get(key, 0) + int(value)
    return counts


def get_campaign(
    scope: TenantScope, campaign_id: int, sender: CampaignSender | None = None
) -> CampaignView:
    campaign = scope.get(Campaign, campaign_id, "campaign")
    counts = None
    if sender is not None and campaign.status == "launched":
        counts = sender.counts(scope.tenant_id, campaign.id)
    return _view(campaign, counts)


def list_campaigns(
    scope: TenantScope,
    sender: CampaignSender | None = None,
    *,
    limit: int = 100,
    after_id: int = 0,
    newest: bool = False,
) -> list[CampaignView]:
    views = []
    for campaign in scope.all(Campaign, limit=limit, after_id=after_id, newest=newest):
        counts = None
        if sender is not None and campaign.status == "launched":
            counts = sender.counts(scope.tenant_id, campaign.id)
        views.append(_view(campaign, counts))
    return views


def due_campaigns(session: Session, now: datetime) -> list[tuple[int, int]]:
    """``(tenant id, campaign id)`` of scheduled campaigns whose time has come (any tenant:
    the scheduler launches each through its own tenant's scope)."""
    query = (
        sa.select(Campaign.tenant_id, Campaign.id)
        .where(Campaign.status == "scheduled", Campaign.scheduled_at <= now)
        .order_by(Campaign.scheduled_at)
    )
    return [(tenant_id, campaign_id) for tenant_id, campaign_id in session.execute(query)]
