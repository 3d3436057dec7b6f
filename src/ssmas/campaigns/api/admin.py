"""Tenant administration (scope ``campaigns:admin``): create tenants, list them with their
quotas and this month's usage, give them keys, read their invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.api.deps import AdminKey
from ssmas.campaigns.api.schemas import (
    SLUG_PATTERN,
    InvoiceOut,
    KeyOut,
    TenantCreate,
    TenantCreated,
    TenantOut,
    TenantUpdate,
)
from ssmas.campaigns.tables import Tenant
from ssmas.campaigns.tenancy import (
    create_tenant,
    get_tenant,
    invoice,
    issue_key,
    list_tenants,
    parse_month,
    update_tenant,
    usage_between,
)
from ssmas.core.api import PlatformDep
from ssmas.core.api.bodies import json_body, json_body_doc
from ssmas.core.api.errors import error_responses
from ssmas.core.platform import Platform

router = APIRouter(prefix="/campaigns/tenants", tags=["campaigns: tenants"])
TenantPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="the tenant's id")]
MonthQuery = Annotated[
    str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (default: this month)")
]
NOT_FOUND = error_responses(404, descriptions={404: "no such tenant"})


def tenant_out(session: Session, tenant: Tenant) -> TenantOut:
    today = datetime.now(UTC).date()
    return TenantOut.of(tenant, usage_between(session, tenant.id, today.replace(day=1), today))


def month_invoice(session: Session, tenant: Tenant, month: str | None) -> InvoiceOut:
    first = parse_month(month or datetime.now(UTC).strftime("%Y-%m"))
    return InvoiceOut.of(invoice(session, tenant, first))


def _create(platform: Platform, body: TenantCreate, actor: str) -> TenantCreated:
    with platform.uow() as uow:
        tenant = create_tenant(uow.session, body.id, body.name, body.tier)
        raw, record = issue_key(uow.session, tenant, actor=actor)
        uow.commit()
        out = tenant_out(uow.session, tenant)
    return TenantCreated(
        tenant=out,
        key=KeyOut(tenant=tenant.slug, prefix=record.prefix, api_key=raw, scopes=record.scopes),
    )


@router.post(
    "",
    status_code=201,
    responses=error_responses(409, descriptions={409: "the id is taken"}),
    openapi_extra=json_body_doc(TenantCreate),
)
async def create(
    platform: PlatformDep,
    key: AdminKey,
    body: Annotated[TenantCreate, Depends(json_body(TenantCreate))],
) -> TenantCreated:
    """Create a tenant and its first API key (``campaigns:read`` and ``campaigns:write``)."""
    return await run_in_threadpool(_create, platform, body, f"apikey:{key.prefix}")


def _list(platform: Platform) -> list[TenantOut]:
    with platform.uow() as uow:
        return [tenant_out(uow.session, tenant) for tenant in list_tenants(uow.session)]


@router.get("")
async def list_all(platform: PlatformDep, _key: AdminKey) -> list[TenantOut]:
    return await run_in_threadpool(_list, platform)


def _one(platform: Platform, slug: str) -> TenantOut:
    with platform.uow() as uow:
        return tenant_out(uow.session, get_tenant(uow.session, slug))


@router.get("/{tenant}", responses=NOT_FOUND)
async def read(tenant: TenantPath, platform: PlatformDep, _key: AdminKey) -> TenantOut:
    return await run_in_threadpool(_one, platform, tenant)


def _update(platform: Platform, slug: str, body: TenantUpdate) -> TenantOut:
    with platform.uow() as uow:
        tenant = update_tenant(
            uow.session, slug, name=body.name, tier=body.tier, status=body.status
        )
        uow.commit()
        return tenant_out(uow.session, tenant)


@router.patch("/{tenant}", responses=NOT_FOUND, openapi_extra=json_body_doc(TenantUpdate))
async def update(
    tenant: TenantPath,
    platform: PlatformDep,
    _key: AdminKey,
    body: Annotated[TenantUpdate, Depends(json_body(TenantUpdate))],
) -> TenantOut:
    """Rename a tenant, move it to another tier (its quotas apply at once) or suspend it (its
    keys get 403 until it is active again)."""
    return await run_in_threadpool(_update, platform, tenant, body)


def _key_for(platform: Platform, slug: str, actor: str) -> KeyOut:
    with platform.uow() as uow:
        tenant = get_tenant(uow.session, slug)
        raw, record = issue_key(uow.session, tenant, actor=actor)
        uow.commit()
    return KeyOut(tenant=slug, prefix=record.prefix, api_key=raw, scopes=record.scopes)


@router.post("/{tenant}/keys", status_code=201, responses=NOT_FOUND)
async def new_key(tenant: TenantPath, platform: PlatformDep, key: AdminKey) -> KeyOut:
    """Another API key for the tenant, shown once."""
    return await run_in_threadpool(_key_for, platform, tenant, f"apikey:{key.prefix}")


def _invoice(platform: Platform, slug: str, month: str | None) -> InvoiceOut:
    with platform.uow() as uow:
        return month_invoice(uow.session, get_tenant(uow.session, slug), month)


@router.get("/{tenant}/invoice", responses=NOT_FOUND)
async def read_invoice(
    tenant: TenantPath, platform: PlatformDep, _key: AdminKey, month: MonthQuery = None
) -> InvoiceOut:
    """The tenant's invoice lines for a month (EUR, exact decimals as strings)."""
    return await run_in_threadpool(_invoice, platform, tenant, month)
