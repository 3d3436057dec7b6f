"""The simulated ad exchange as a product: its CLI and the live exchange of the demo."""

from __future__ import annotations

from ssmas.core.product import Product

PRODUCT = Product(
    name="exchange",
    summary="The simulated ad exchange: world, auctions, faults and the Parquet data lake.",
    cli="ssmas.exchange.commands:exchange_app",
    demo="ssmas.exchange.demo:run_demo",
)
