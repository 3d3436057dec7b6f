"""Campaign anomalies reach AdOps' event rules: ``publish_anomalies`` also puts each anomaly on
the AdOps events topic as an EventBridge-shaped event, and the rules shipped with AdOps page on
the critical ones (``campaign-anomaly``, a ``notify`` target), once per anomaly however often
the batch is published."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ssmas.adops.events import TargetCall, target_registry
from ssmas.adops.events.envelope import parse_event
from ssmas.adops.events.service import build_event_rules
from ssmas.campaigns.anomaly import detect_anomalies, publish_anomalies
from ssmas.campaigns.anomaly.events import adops_event
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import Settings
from tests.unit.campaigns.test_anomaly_events import FEATURES, campaign_metrics

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[Platform]:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    settings.ensure_dirs()
    built = build_platform(settings)
    yield built
    built.close()


def test_critical_campaign_anomalies_are_routed_by_the_shipped_rules(platform: Platform) -> None:
    paged: list[TargetCall] = []
    target_registry(platform).register("notify", paged.append)
    runtime = build_event_rules(platform, sleep=lambda _s: None)  # the default rules
    assert runtime.rules.get("campaign-anomaly") is not None
    events = detect_anomalies(
        campaign_metrics(),
        source="campaigns",
        id_column="campaign_id",
        feature_columns=FEATURES,
        threshold=0.97,
        run_id="2026-12-06",
        now=NOW,
    )
    critical = [e for e in events if e.severity == "critical"]
    assert critical
    envelope = parse_event(adops_event(events[0]))  # what the rules worker parses
    assert envelope.source == "ssmas.campaigns" and envelope.detail["entity_id"] == "cmp-123"

    for _ in range(2):  # a retried batch is the same events
        publish_anomalies(platform.bus, events)
    deliveries = platform.bus.consume(runtime.topic, "adops-rules", "t", max_messages=100)
    assert len(deliveries) == len(events)
    assert runtime.handle_batch(deliveries) == [None] * len(deliveries)
    platform.bus.ack(deliveries)

    assert sorted(c.event["detail"]["entity_id"] for c in paged) == sorted(
        e.entity_id for e in critical
    )
    first = next(c for c in paged if c.event["detail"]["entity_id"] == "cmp-123")
    assert first.rule == "campaign-anomaly"
    assert first.input == "anomalous campaigns cmp-123 (campaigns anomaly ensemble)"
