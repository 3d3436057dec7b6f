"""Campaign intelligence as a product (part built: phone validation and forecasting)."""

from __future__ import annotations

from ssmas.core.product import Product

PRODUCT = Product(
    name="campaigns",
    summary="Campaign intelligence: phone validation and conversion forecasts.",
    routers=("ssmas.campaigns.api_quality:router",),
    cli="ssmas.campaigns.commands:campaigns_app",
)
