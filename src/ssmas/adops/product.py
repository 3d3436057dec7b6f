"""Autonomous AdOps as a product (part built: detection, NAB scoring, the metric stream,
incidents and event rules; see docs/adops.md)."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="adops",
    summary="Autonomous AdOps: anomaly detectors, incidents, event rules and remediation agents.",
    cli="ssmas.adops.commands:adops_app",
    routers=(
        "ssmas.adops.api:router",
        "ssmas.adops.api_events:router",
        "ssmas.adops.api_agents:router",
    ),
    pages=("ssmas.adops.web:router", "ssmas.adops.web_agents:router"),
    workers=(
        WorkerSpec("stream", "ssmas.adops.runtime:run_stream_worker"),
        WorkerSpec(
            "rules",
            "ssmas.adops.events.service:run_rules_worker",
            groups=("adops-rules",),
            max_replicas=3,  # batches archive to parts of their own; the ledger dedupes alerts
        ),
        WorkerSpec("agents", "ssmas.adops.agents.live:run_agents_worker"),
    ),
    demo="ssmas.adops.demo:run_demo",
    settings_section="adops",
)
