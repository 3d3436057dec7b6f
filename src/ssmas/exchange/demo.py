"""The exchange's part of ``ssmas demo``: the live simulator feeding the other products.

One simulated minute per real second (speed 60), metric points published on ``metrics.adops``,
the control plane read every minute so remediations show in the next minutes of metrics. The
auctions take their floors from whatever the pricing demo installs in the platform's
:func:`~ssmas.exchange.live.floor_slot` (the ad units' own floors until then).
"""

from __future__ import annotations

import threading

import structlog

from ssmas.core.platform import Platform
from ssmas.exchange.live import floor_slot, run_live

log = structlog.get_logger("ssmas.exchange.demo")

DEMO_SPEED = 60.0
# A small network keeps the demo light on a laptop: about 2M impressions a simulated day.
DEMO_IMPRESSIONS_PER_DAY = 2_000_000


def run_demo(platform: Platform, stop: threading.Event) -> None:
    """Run the live exchange until ``stop`` is set."""
    report = run_live(
        platform.settings,
        speed=DEMO_SPEED,
        stop_event=stop,
        impressions_per_day=DEMO_IMPRESSIONS_PER_DAY,
        floors=floor_slot(platform),
    )
    log.info("exchange_demo_stopped", report=str(report))
