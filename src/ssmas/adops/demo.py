"""AdOps' part of ``ssmas demo``: the stream job on the live exchange, and a fault to see.

The exchange demo publishes one simulated minute a second on ``metrics.adops`` and the
``stream`` worker (windows, detector, composite rules, incidents) reads it. Once the stream has
passed the detector's warm-up, this loop injects a partner outage into the exchange through its
fault store, so within a couple of simulated minutes an incident opens on the dashboard
(``/dashboard/adops/incidents``) and the notifiers say so.
"""

from __future__ import annotations

import threading

import structlog
from sqlalchemy.orm import Session

from ssmas.adops.incidents.tables import StreamCheckpointRow
from ssmas.adops.stream.job import JOB_NAME, METRICS_TOPIC
from ssmas.core.platform import Platform

log = structlog.get_logger("ssmas.adops.demo")
WARMUP_MINUTES = 90  # simulated minutes of the stream before the fault (warm-up is 60)
DEMO_WORLD_SEED = 42  # the world ``run_live`` builds by default
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


def stream_offset(platform: Platform) -> int:
    """How many exchange messages the stream worker has checkpointed (0 before the first)."""
    with Session(platform.engine) as session:
        row = session.get(StreamCheckpointRow, JOB_NAME)
        return int(row.offsets.get(METRICS_TOPIC, 0)) if row is not None else 0


def run_demo(platform: Platform, stop: threading.Event) -> None:
    """Wait for the ``stream`` worker (which ``ssmas demo`` runs with the other workers) to
    pass the detector's warm-up, then inject one fault into the live exchange."""
    from ssmas.exchange.metrics import messages_per_minute
    from ssmas.exchange.world import build_world

    warmup_messages = WARMUP_MINUTES * messages_per_minute(build_world(DEMO_WORLD_SEED))
    while not stop.wait(1.0):
        if stream_offset(platform) < warmup_messages:
            continue
        fault_id = inject_demo_fault(platform)
        if fault_id is not None:
            log.info("adops_demo_fault_injected", fault_id=fault_id, kind=FAULT_KIND)
            return
