"""Campaign intelligence as a product (part built: phone validation and forecasting)."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="campaigns",
    summary="Campaign intelligence: phone validation and conversion forecasts.",
    cli="ssmas.campaigns.commands:campaigns_app",
    routers=("ssmas.campaigns.sending.routes:router",),
    workers=(
        WorkerSpec("sender", "ssmas.campaigns.sending.sender:run_sender"),
        WorkerSpec("optouts", "ssmas.campaigns.sending.whatsapp:run_optouts"),
    ),
)
