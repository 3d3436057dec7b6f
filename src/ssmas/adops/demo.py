"""AdOps' part of ``ssmas demo``: the stream job on the live exchange, and a fault to see.

The exchange demo publishes one simulated minute a second on ``metrics.adops``. This loop runs
the stream job (windows, detector, composite rules, incidents) on it and, once the detector's
warm-up has passed, injects a partner outage into the exchange through its fault store, so
within a couple of simulated minutes an incident opens on the dashboard
(``/dashboard/adops/incidents``) and the notifiers say so.
"""

from __future__ import annotations

import threading

import structlog

from ssmas.adops.runtime import stream_job
from ssmas.core.platform import Platform

log = structlog.get_logger("ssmas.adops.demo")
WARMUP_MESSAGES = 51 * 90  # ~90 simulated minutes of the demo exchange's entities
FAULT_KIND = "partner_outage"


def inject_demo_fault(platform: Platform, minutes: float = 20.0) -> str | None:
    """Inject a partner outage at the live exchange's next minute; its fault id (None if the
    live exchange has not run here yet)."""
    from ssmas.exchange.live import LiveClock
    from ssmas.exchange.services import inject_fault

    if LiveClock(platform.settings.data_dir).next_minute() is None:
        return None
    fault = inject_fault(platform.settings, FAULT_KIND, minutes=minutes, actor="adops-demo")
    return str(fault.fault_id)


def run_demo(platform: Platform, stop: threading.Event) -> None:
    """Run the stream job until ``stop``; inject one fault after the warm-up."""
    job = stream_job(platform)
    injected = False
    while not stop.is_set():
        read = job.poll()
        job.checkpoint()
        if not injected and job.stats.messages >= WARMUP_MESSAGES:
            fault_id = inject_demo_fault(platform)
            injected = fault_id is not None
            if injected:
                log.info("adops_demo_fault_injected", fault_id=fault_id, kind=FAULT_KIND)
        if read == 0:
            stop.wait(0.25)
    job.checkpoint(force=job.dirty)
