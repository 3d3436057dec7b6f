"""Autonomous AdOps as a product (part built: detection, NAB scoring, stream and incidents;
see docs/adops.md)."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="adops",
    summary="Autonomous AdOps: streaming anomaly detectors and NAB-compatible scoring.",
    cli="ssmas.adops.commands:adops_app",
    # the stream job and incidents (issue 14, items 1, 2, 5, 6)
    routers=("ssmas.adops.api:router",),
    pages=("ssmas.adops.web:router",),
    workers=(WorkerSpec("stream", "ssmas.adops.runtime:run_stream_worker"),),
    demo="ssmas.adops.demo:run_demo",
)
