"""Autonomous AdOps as a product (part built: detection and NAB scoring; see docs/adops.md)."""

from __future__ import annotations

from ssmas.core.product import Product

PRODUCT = Product(
    name="adops",
    summary="Autonomous AdOps: streaming anomaly detectors and NAB-compatible scoring.",
    cli="ssmas.adops.commands:adops_app",
)
