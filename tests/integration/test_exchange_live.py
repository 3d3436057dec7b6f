"""Live mode against the real bus and database: metrics published per minute, closed loop
through the database-backed control plane and fault store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ssmas.core.bus import bus_from_settings
from ssmas.exchange.faults import entities_of
from ssmas.exchange.live import LiveClock, run_live
from ssmas.exchange.metrics import AD_UNIT_MIN_SHARE, TOPIC
from ssmas.exchange.services import change_control, inject_fault, open_stores
from ssmas.exchange.world import build_world
from ssmas.settings import Settings

T0 = datetime(2024, 10, 22, 10, tzinfo=UTC)
_WORLD = build_world(42)  # run_live's default world
# publishers + partners + exchange, and the ad units big enough to get rows of their own
PER_MINUTE_POINTS = (
    len(_WORLD.publishers)
    + len(_WORLD.partners)
    + 1
    + int((_WORLD.unit_share >= AD_UNIT_MIN_SHARE).sum())
)
FAST = 1e7  # simulated minutes per real minute: no waiting between ticks


def _points(settings: Settings) -> list[dict[str, Any]]:
    bus = bus_from_settings(settings)
    try:
        return [m.payload for m in bus.replay(TOPIC, limit=10_000)]
    finally:
        bus.close()


def _select(points: list[dict[str, Any]], entity: str, at: datetime) -> dict[str, Any]:
    (point,) = [p for p in points if p["entity_id"] == entity and p["ts"] == at.isoformat()]
    return point


def test_live_publishes_one_point_per_entity_minute(settings: Settings) -> None:
    report = run_live(settings, speed=FAST, minutes=3, start=T0, impressions_per_day=2e6)
    assert (report.minutes, report.points) == (3, 3 * PER_MINUTE_POINTS)
    points = _points(settings)
    assert len(points) == 3 * PER_MINUTE_POINTS
    sample = _select(points, "exchange", T0 + timedelta(minutes=2))
    for field in (
        "rpm",
        "fill_rate",
        "bid_latency_ms",
        "error_rate",
        "partner_timeouts",
        "cache_hit_rate",
        "requests",
    ):
        assert field in sample
    assert sample["requests"] > 0 and 0 < sample["fill_rate"] <= 1
    assert LiveClock(settings.data_dir).next_minute() == T0 + timedelta(minutes=3)
    # Running the same minutes again publishes nothing new: keys make it idempotent.
    run_live(settings, speed=FAST, minutes=3, start=T0, impressions_per_day=2e6)
    assert len(_points(settings)) == 3 * PER_MINUTE_POINTS


def test_injected_fault_and_remediation_through_the_database(settings: Settings) -> None:
    partner = entities_of(build_world(42), "partner")[0]
    fault = inject_fault(settings, "partner_outage", entity=partner, start=T0, minutes=60)
    assert (settings.data_dir / "exchange" / "labels" / "faults.json").exists()
    run_live(settings, speed=FAST, minutes=3, start=T0, impressions_per_day=2e6)
    during = _select(_points(settings), partner, T0 + timedelta(minutes=2))
    assert during["error_rate"] > 0.9
    version = change_control(
        settings, {"circuit_breakers": {partner: True}}, actor="adops-agent", reason=fault.fault_id
    )
    assert version.version == 1
    run_live(settings, speed=FAST, minutes=2, start=T0 + timedelta(minutes=3))
    after = _select(_points(settings), partner, T0 + timedelta(minutes=4))
    assert after["requests"] == 0 and after["error_rate"] == 0
    plane, _ = open_stores(settings)
    assert plane.current().actor == "adops-agent"


@pytest.mark.redis
def test_live_on_redis_streams(settings: Settings, redis_url: str) -> None:
    redis_settings = settings.model_copy(update={"bus_backend": "redis", "redis_url": redis_url})
    run_live(redis_settings, speed=FAST, minutes=1, start=T0, impressions_per_day=1e6)
    assert len(_points(redis_settings)) == PER_MINUTE_POINTS
