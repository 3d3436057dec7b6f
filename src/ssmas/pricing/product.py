"""Predictive yield as a product: what it plugs into the platform (``ssmas.core.product``)."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="pricing",
    summary="Predictive yield: CPM model, serving, dynamic floors, drift and retraining.",
    routers=("ssmas.pricing.api:router",),
    pages=("ssmas.pricing.web:web_router",),
    start="ssmas.pricing.serving.runtime:setup",
    workers=(WorkerSpec("retrain", "ssmas.pricing.lifecycle.retraining:run_retrain_loop"),),
    cli="ssmas.pricing.commands:pricing_app",
    demo="ssmas.pricing.demo:run_demo",
)
