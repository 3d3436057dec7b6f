"""``ssmas demo``'s AdOps part: a fault injected into the live exchange becomes an incident
within a couple of simulated minutes (the exchange runs faster than the demo's pace here)."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from ssmas.adops import demo as adops_demo
from ssmas.adops.runtime import incident_service, run_stream_worker
from ssmas.core.platform import build_platform
from ssmas.core.worker import wait_until
from ssmas.exchange.live import LiveClock, run_live
from ssmas.settings import Settings


@pytest.mark.slow
def test_an_injected_fault_becomes_an_incident(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adops_demo, "WARMUP_MINUTES", 70)
    platform = build_platform(settings)
    stop = threading.Event()
    exchange = threading.Thread(
        target=run_live,
        kwargs={
            "settings": settings,
            "speed": 1200.0,
            "stop_event": stop,
            "impressions_per_day": 2e6,
        },
    )
    adops = threading.Thread(target=adops_demo.run_demo, args=(platform, stop))
    worker = threading.Thread(target=run_stream_worker, args=(platform, stop))
    exchange.start()
    adops.start()
    worker.start()
    try:
        service = incident_service(platform)
        found = wait_until(
            lambda: (
                bool(service.list_incidents(entity="partner/"))
                or bool(
                    [i for i in service.list_incidents() if "partner/" in " ".join(i["entities"])]
                )
            ),
            timeout_s=120,
            poll_s=0.5,
        )
        assert found, "no incident from the injected partner outage"
    finally:
        stop.set()
        exchange.join(timeout=30)
        adops.join(timeout=30)
        worker.join(timeout=30)
    incidents = [i for i in service.list_incidents() if "partner/" in " ".join(i["entities"])]
    clock = LiveClock(settings.data_dir).next_minute()
    assert clock is not None
    from ssmas.exchange.services import open_stores
    from ssmas.exchange.world import build_world

    _, store = open_stores(settings, build_world(42))
    # the demo goes on injecting faults of other kinds; the first outage is the one seen
    fault = min((f for f in store.all() if f.kind == "partner_outage"), key=lambda f: f.start)
    opened: datetime = incidents[0]["opened_at"]
    assert 0 <= (opened - fault.start).total_seconds() <= 180  # a couple of simulated minutes
    platform.close()
