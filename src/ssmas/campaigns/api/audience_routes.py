"""A tenant's segments and campaigns: create by rules or by clustering, draft and launch
campaigns, read their live delivery and conversion counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.api.deps import RuntimeDep, TenantReader, TenantWriter
from ssmas.campaigns.api.schemas import CampaignCreate, ClusterCreate, SegmentCreate
from ssmas.campaigns.api.tenant_routes import After, Limit, run_scoped
from ssmas.campaigns.audience import (
    CampaignView,
    SegmentView,
    cluster_segments,
    create_campaign,
    create_rule_segment,
    get_campaign,
    get_segment,
    launch_campaign,
    list_campaigns,
    list_segments,
)
from ssmas.campaigns.errors import SendingUnavailable
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Campaign, Tenant
from ssmas.core.api.bodies import json_body, json_body_doc
from ssmas.core.api.bounds import IdPath
from ssmas.core.api.errors import error_responses
from ssmas.core.db import utcnow

router = APIRouter(prefix="/campaigns", tags=["campaigns: audiences"])
NOT_FOUND = error_responses(404)


@router.post("/segments", status_code=201, openapi_extra=json_body_doc(SegmentCreate))
async def create_segment(
    caller: TenantWriter, body: Annotated[SegmentCreate, Depends(json_body(SegmentCreate))]
) -> SegmentView:
    """A segment of the leads meeting every rule, evaluated again whenever it is used."""
    return await run_in_threadpool(
        run_scoped,
        caller,
        lambda scope: create_rule_segment(scope, body.name, body.rules),
        commit=True,
    )


@router.post("/segments/clusters", status_code=201, openapi_extra=json_body_doc(ClusterCreate))
async def create_clusters(
    caller: TenantWriter, body: Annotated[ClusterCreate, Depends(json_body(ClusterCreate))]
) -> list[SegmentView]:
    """k-means over the tenant's leads (presence, metro area, line, quality when known): one
    segment per cluster, best average quality first."""
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: cluster_segments(scope, body.name, k=body.k), commit=True
    )


@router.get("/segments")
async def segments(caller: TenantReader, limit: Limit = 100, after: After = 0) -> list[SegmentView]:
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: list_segments(scope, limit=limit, after_id=after)
    )


@router.get("/segments/{segment_id}", responses=NOT_FOUND)
async def segment(segment_id: IdPath, caller: TenantReader) -> SegmentView:
    return await run_in_threadpool(run_scoped, caller, lambda scope: get_segment(scope, segment_id))


@router.post(
    "/campaigns",
    status_code=201,
    responses=NOT_FOUND,
    openapi_extra=json_body_doc(CampaignCreate),
)
async def create(
    caller: TenantWriter, body: Annotated[CampaignCreate, Depends(json_body(CampaignCreate))]
) -> CampaignView:
    """Draft a campaign (scheduled when ``scheduled_at`` is given); a template variable no lead
    of the segment has is a 422."""
    return await run_in_threadpool(
        run_scoped,
        caller,
        lambda scope: create_campaign(
            scope,
            name=body.name,
            segment_id=body.segment_id,
            channel=body.channel,
            template=body.template,
            scheduled_at=body.scheduled_at,
        ),
        commit=True,
    )


@router.get("/campaigns")
async def campaigns(
    caller: TenantReader, runtime: RuntimeDep, limit: Limit = 100, after: After = 0
) -> list[CampaignView]:
    """The tenant's campaigns with their live counts (queued, sent, delivered, failed,
    opted out, capped, converted)."""
    return await run_in_threadpool(
        run_scoped,
        caller,
        lambda scope: list_campaigns(scope, runtime.sender, limit=limit, after_id=after),
    )


@router.get("/campaigns/{campaign_id}", responses=NOT_FOUND)
async def campaign(campaign_id: IdPath, caller: TenantReader, runtime: RuntimeDep) -> CampaignView:
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: get_campaign(scope, campaign_id, runtime.sender)
    )


@router.post(
    "/campaigns/{campaign_id}/launch",
    responses=error_responses(
        404, 409, 503, descriptions={409: "launched already", 503: "no sender configured"}
    ),
)
async def launch(campaign_id: IdPath, caller: TenantWriter, runtime: RuntimeDep) -> CampaignView:
    """Build the recipient list and hand it to the sender, once, within the day's quota."""

    def work(scope: TenantScope) -> CampaignView:
        sender = runtime.sender
        if sender is None:
            scope.get(Campaign, campaign_id, "campaign")  # another tenant's id stays a 404
            raise SendingUnavailable(message="no campaign sender is configured in this process")
        tenant = scope.session.get(Tenant, caller.tenant.id)
        assert tenant is not None
        return launch_campaign(
            scope, tenant, campaign_id, cipher=runtime.cipher, sender=sender, now=utcnow()
        )

    return await run_in_threadpool(run_scoped, caller, work, commit=True)
