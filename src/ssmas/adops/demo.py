"""AdOps' part of ``ssmas demo``: the stream job on the live exchange, and faults to see.

The exchange demo publishes one simulated minute a second on ``metrics.adops`` and the
``stream`` worker (windows, detector, composite rules, incidents) reads it. Once the stream has
passed the detector's warm-up, this loop injects a partner outage into the exchange through its
fault store, so within a couple of simulated minutes an incident opens on the dashboard
(``/dashboard/adops/incidents``) and the notifiers say so; then another fault every
``FAULT_EVERY_MIN`` simulated minutes, of the next kind in ``DEMO_FAULTS``. The ``agents``
worker (active in the demo) classifies each incident, acts, waits on
``/dashboard/adops/agents`` for the demo user's approval where the risk bar says so, verifies
and resolves.
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
FAULT_EVERY_MIN = 40  # simulated minutes between two faults after the first
DEMO_FAULTS = (
    "cache_collapse",
    "floor_too_high",
    "capacity_saturation",
    "invalid_traffic_surge",
    "partner_latency_spike",
    "ad_unit_misconfiguration",
    FAULT_KIND,
)


def inject_demo_fault(
    platform: Platform, minutes: float = 20.0, kind: str = FAULT_KIND
) -> str | None:
    """Inject a fault (a partner outage by default) at the live exchange's next minute; its
    fault id (None if the live exchange has not run here yet)."""
    from ssmas.exchange.live import LiveClock
    from ssmas.exchange.services import inject_fault

    if LiveClock(platform.settings.data_dir).next_minute() is None:
        return None
    fault = inject_fault(platform.settings, kind, minutes=minutes, actor="adops-demo")
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

    per_minute = messages_per_minute(build_world(DEMO_WORLD_SEED))
    next_at = WARMUP_MINUTES * per_minute
    kinds = [FAULT_KIND, *DEMO_FAULTS]
    n = 0
    while not stop.wait(1.0):
        if stream_offset(platform) < next_at:
            continue
        kind = kinds[n % len(kinds)]
        fault_id = inject_demo_fault(platform, kind=kind)
        if fault_id is not None:
            log.info("adops_demo_fault_injected", fault_id=fault_id, kind=kind)
            n += 1
            next_at = stream_offset(platform) + FAULT_EVERY_MIN * per_minute
