"""Ops as a product: its dashboard page and its commands (``ssmas.core.product``)."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="ops",
    summary="Operations: alerting, health, self-healing, backups and DR, audit.",
    routers=("ssmas.ops.healing.api:router",),
    pages=(
        "ssmas.ops.web:web_router",
        "ssmas.ops.autoscale.web:web_router",
        "ssmas.ops.admin_web:web_router",
    ),
    workers=(WorkerSpec("backup", "ssmas.ops.backup.worker:run_backup_loop"),),
    cli="ssmas.ops.commands:ops_app",
    settings_section="ops",
)
