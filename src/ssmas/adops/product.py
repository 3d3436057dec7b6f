"""Autonomous AdOps as a product (part built: detection and NAB scoring; see docs/adops.md)."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="adops",
    summary="Autonomous AdOps: streaming anomaly detectors and NAB-compatible scoring.",
    cli="ssmas.adops.commands:adops_app",
    routers=("ssmas.adops.api_events:router",),
    workers=(WorkerSpec("rules", "ssmas.adops.events.service:run_rules_worker"),),
    settings_section="adops",
)
