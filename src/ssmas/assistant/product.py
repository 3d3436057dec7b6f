"""The WhatsApp assistant as a product: what it plugs into the platform (``ssmas.core.product``)."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="assistant",
    summary="WhatsApp assistant: webhook, context, intent, replies, media and human handoff.",
    routers=("ssmas.assistant.routes:router",),
    pages=("ssmas.assistant.web:router",),
    start="ssmas.assistant.routes:setup",
    workers=(
        WorkerSpec(
            "consumers",
            "ssmas.assistant.workers:run",
            groups=(
                "assistant-router",
                "assistant-text",
                "assistant-media",
                "assistant-status",
                "assistant-outbound",
                "assistant-templates",
            ),
            max_replicas=4,  # partitions are leased per process (ssmas.core.leases)
        ),
        WorkerSpec("sla", "ssmas.assistant.workers:run_sla_sweep"),
        WorkerSpec("retention", "ssmas.assistant.governance:run_retention"),
    ),
    cli="ssmas.assistant.commands:assistant_app",
    demo="ssmas.assistant.demo:run_demo",
    settings_section="whatsapp",
)
