"""Campaign intelligence as a product: tenants, lead imports, phone validation, segments,
campaigns and conversion forecasts."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="campaigns",
    summary="Campaign intelligence: tenants, leads, phone validation, segments and campaigns.",
    routers=("ssmas.campaigns.api:router",),
    pages=("ssmas.campaigns.web:router",),
    start="ssmas.campaigns.runtime:setup",
    workers=(WorkerSpec("scheduler", "ssmas.campaigns.scheduling:run_scheduler"),),
    cli="ssmas.campaigns.commands:campaigns_app",
    demo="ssmas.campaigns.demo:run_demo",
)
