"""The scheduler worker: launches scheduled campaigns once their time has come, each through
its own tenant's scope, with the sender of this process (the worker attaches the send ledger's
when none is)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import structlog

from ssmas.campaigns.audience import due_campaigns, launch_campaign
from ssmas.campaigns.runtime import campaigns_runtime, ensure_sender
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Tenant
from ssmas.core.api.errors import DomainError
from ssmas.core.db import utcnow
from ssmas.core.platform import Platform

__all__ = ["INTERVAL_S", "launch_due", "run_scheduler"]

INTERVAL_S = 5.0
log = structlog.get_logger(__name__)


def launch_due(platform: Platform, now: datetime) -> int:
    """Launch every scheduled campaign due at ``now``; how many were launched. A campaign the
    quota refuses stays scheduled (tried again on the next pass) and is logged."""
    runtime = campaigns_runtime(platform)
    sender = runtime.sender
    if sender is None:
        return 0
    with platform.uow() as uow:
        due = due_campaigns(uow.session, now)
    launched = 0
    for tenant_id, campaign_id in due:
        with platform.uow() as uow:
            tenant = uow.session.get(Tenant, tenant_id)
            if tenant is None or tenant.status != "active":
                continue
            try:
                launch_campaign(
                    TenantScope(uow.session, tenant_id),
                    tenant,
                    campaign_id,
                    cipher=runtime.cipher,
                    sender=sender,
                    now=now,
                )
            except DomainError as exc:  # the quota, a campaign launched meanwhile
                log.warning("campaign_not_launched", campaign_id=campaign_id, reason=exc.code)
                continue
            uow.commit()
            launched += 1
    return launched


def run_scheduler(
    platform: Platform, stop: threading.Event, clock: Callable[[], datetime] = utcnow
) -> None:
    """Worker loop: :func:`launch_due` every :data:`INTERVAL_S` seconds until ``stop``."""
    ensure_sender(platform)
    while not stop.is_set():
        count = launch_due(platform, clock())
        if count:
            log.info("scheduled_campaigns_launched", count=count)
        stop.wait(INTERVAL_S)
