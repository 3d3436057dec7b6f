"""Campaign intelligence as a product: tenants, lead imports, phone validation, segments,
campaigns, their sending (ledger, SMS provider, receipts, opt-outs) and conversion forecasts."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="campaigns",
    summary="Campaign intelligence: tenants, leads, lead quality, segments and campaigns.",
    routers=(
        "ssmas.campaigns.api:router",
        "ssmas.campaigns.sending.routes:router",
        "ssmas.campaigns.api_quality:router",
    ),
    pages=("ssmas.campaigns.web:router", "ssmas.campaigns.web_optimise:router"),
    start="ssmas.campaigns.runtime:setup",
    workers=(
        WorkerSpec("scheduler", "ssmas.campaigns.scheduling:run_scheduler"),
        WorkerSpec("sender", "ssmas.campaigns.sending.sender:run_sender"),
        WorkerSpec("optouts", "ssmas.campaigns.sending.whatsapp:run_optouts"),
    ),
    cli="ssmas.campaigns.commands:campaigns_app",
    demo="ssmas.campaigns.demo:run_demo",
    settings_section="campaigns",
)
