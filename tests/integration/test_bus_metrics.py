"""The platform bus reports figures: published, delivered, redelivered, acked, nacked."""

from __future__ import annotations

import uuid
from pathlib import Path

from ssmas.core.bus import bus_from_settings
from ssmas.core.bus.instrumented import InstrumentedBus
from ssmas.core.bus.sqlite import SqliteBus
from ssmas.core.metrics import REGISTRY
from ssmas.settings import Settings


def value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_counts_follow_what_the_bus_does(settings: Settings) -> None:
    topic = f"metrics.{uuid.uuid4().hex[:8]}"
    bus = bus_from_settings(settings)
    assert isinstance(bus, InstrumentedBus)
    try:
        bus.publish(topic, {"n": 0})
        bus.publish_batch(topic, [{"n": 1}, {"n": 2}])
        assert value("ssmas_bus_published_total", topic=topic) == 3

        first = bus.consume(topic, "g", "c1", max_messages=3, visibility_timeout_s=30)
        assert value("ssmas_bus_delivered_total", topic=topic, group="g") == 3
        bus.ack(first[:2])
        bus.nack(first[2], error="boom")
        assert value("ssmas_bus_acked_total", topic=topic, group="g") == 2
        assert value("ssmas_bus_nacked_total", topic=topic, group="g") == 1

        again = bus.consume(topic, "g", "c1", max_messages=3, visibility_timeout_s=30)
        assert [d.message.payload["n"] for d in again] == [2]
        assert value("ssmas_bus_redelivered_total", topic=topic, group="g") == 1
        assert value("ssmas_bus_delivered_total", topic=topic, group="g") == 4
        assert value("ssmas_bus_call_seconds_count", operation="consume") >= 2
    finally:
        bus.close()


def test_the_sqlite_non_blocking_publish_is_counted(tmp_path: Path) -> None:
    topic = f"metrics.{uuid.uuid4().hex[:8]}"
    bus = InstrumentedBus(SqliteBus(str(tmp_path / "bus.db")))
    try:
        ids = bus.try_publish_batch(topic, [{"n": 1}, ("k", {"n": 2})])
        assert ids is not None and len(ids) == 2
        assert value("ssmas_bus_published_total", topic=topic) == 2
        assert bus.replay(topic)[1].payload == {"n": 2}
    finally:
        bus.close()
