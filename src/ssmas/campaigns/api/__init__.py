"""The campaigns HTTP API: tenant administration, and each tenant's own routes."""

from __future__ import annotations

from fastapi import APIRouter

from ssmas.campaigns.api import admin, audience_routes, experiment_routes, tenant_routes

router = APIRouter()
router.include_router(admin.router)
router.include_router(tenant_routes.router)
router.include_router(audience_routes.router)
router.include_router(experiment_routes.router)

__all__ = ["router"]
