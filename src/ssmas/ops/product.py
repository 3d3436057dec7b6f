"""Ops as a product: its dashboard page and its commands (``ssmas.core.product``)."""

from __future__ import annotations

from ssmas.core.product import Product

PRODUCT = Product(
    name="ops",
    summary="Operations: alerting (Prometheus, Alertmanager), platform health and alerts.",
    pages=("ssmas.ops.web:web_router", "ssmas.ops.autoscale.web:web_router"),
    cli="ssmas.ops.commands:ops_app",
    settings_section="ops",
)
