"""Audiences and campaigns: segments by rules or by clustering, templates with variables
checked against the audience, and the launch that hands recipients to the sender."""

from __future__ import annotations

from ssmas.campaigns.audience.campaigns import (
    CampaignView,
    create_campaign,
    due_campaigns,
    get_campaign,
    launch_campaign,
    list_campaigns,
    recipients_of,
)
from ssmas.campaigns.audience.rules import FIELDS, Condition
from ssmas.campaigns.audience.segments import (
    MAX_CLUSTERS,
    SegmentView,
    cluster_segments,
    create_rule_segment,
    get_segment,
    list_segments,
)
from ssmas.campaigns.audience.templates import BUILT_IN, fill, template_variables

__all__ = [
    "BUILT_IN",
    "FIELDS",
    "MAX_CLUSTERS",
    "CampaignView",
    "Condition",
    "SegmentView",
    "cluster_segments",
    "create_campaign",
    "create_rule_segment",
    "due_campaigns",
    "fill",
    "get_campaign",
    "get_segment",
    "launch_campaign",
    "list_campaigns",
    "list_segments",
    "recipients_of",
    "template_variables",
]
