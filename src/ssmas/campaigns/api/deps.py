"""Who calls: the tenant behind an API key, as a dependency (``TenantReader`` /
``TenantWriter``), and the platform operator (``AdminKey``, scope ``campaigns:admin``).

A tenant route never takes a tenant from the request: the caller's key names it. A key bound
to no tenant (an operator's) is refused with 403, as is a key of a suspended tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.runtime import CampaignsRuntime, campaigns_runtime
from ssmas.campaigns.tables import Tenant
from ssmas.campaigns.tenancy import tenant_for_key
from ssmas.core.api import PlatformDep, require_scope
from ssmas.core.api.errors import ApiError
from ssmas.core.platform import Platform
from ssmas.core.security import ApiKeyRecord

__all__ = ["AdminKey", "Caller", "RuntimeDep", "TenantReader", "TenantWriter"]


@dataclass(frozen=True)
class Caller:
    """The authenticated key and the tenant it acts for (a detached row: read its fields)."""

    key: ApiKeyRecord
    tenant: Tenant
    platform: Platform


def _lookup(platform: Platform, key: ApiKeyRecord) -> Tenant | None:
    with platform.uow() as uow:
        return tenant_for_key(uow.session, key.id)


async def _caller(platform: Platform, key: ApiKeyRecord) -> Caller:
    tenant = await run_in_threadpool(_lookup, platform, key)
    if tenant is None:
        raise ApiError(
            403,
            "no_tenant",
            "this API key acts for no tenant; use a key from "
            "`ssmas campaigns tenant key <tenant>` or POST /campaigns/tenants/{tenant}/keys",
        )
    if tenant.status != "active":
        raise ApiError(403, "tenant_suspended", f"tenant {tenant.slug!r} is {tenant.status}")
    return Caller(key, tenant, platform)


async def tenant_reader(
    platform: PlatformDep,
    key: Annotated[ApiKeyRecord, Depends(require_scope("campaigns:read"))],
) -> Caller:
    return await _caller(platform, key)


async def tenant_writer(
    platform: PlatformDep,
    key: Annotated[ApiKeyRecord, Depends(require_scope("campaigns:write"))],
) -> Caller:
    return await _caller(platform, key)


def _runtime(platform: PlatformDep) -> CampaignsRuntime:
    return campaigns_runtime(platform)


TenantReader = Annotated[Caller, Depends(tenant_reader)]
TenantWriter = Annotated[Caller, Depends(tenant_writer)]
AdminKey = Annotated[ApiKeyRecord, Depends(require_scope("campaigns:admin"))]
RuntimeDep = Annotated[CampaignsRuntime, Depends(_runtime)]
