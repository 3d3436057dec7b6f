"""Event rules end to end on the real SQLite bus: targets, dedup, dead letters, archive, replay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ssmas.adops.events import TargetCall, TargetFailed, publish_event, replay, target_registry
from ssmas.adops.events.service import EventRules, build_event_rules
from ssmas.core.bus import Bus, dlq_topic
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import AdopsSettings, Settings
from tests.fakes.webhook_sink import HttpSink, Reply

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

RULES = """
rules:
  - name: composite
    pattern:
      source: [adops.analytics]
      detail-type: [Composite Anomaly Detected]
      detail:
        severity: [CRITICAL, HIGH]
        metrics_affected: [{numeric: [">", 2]}]
    targets:
      - {id: incident, type: incident, input_path: $.detail}
      - id: page
        type: notify
        severity: critical
        urls: ["webhook+{sink}/notify"]
        dedup_key: "<$.detail.entity_id>:<$.detail.problem_type>"
        dedup_window_s: 3600
        input_transformer:
          paths: {entity: $.detail.entity_id, problem: $.detail.problem_type}
          template: '"<problem> on <entity>"'
      - {id: hook, type: webhook, url: "{sink}/hook", max_attempts: 2}
      - {id: forward, type: topic, topic: adops.forwarded}
  - name: orphan
    pattern: {source: [adops.orphan]}
    targets:
      - {id: nowhere, type: agent}
  - name: switched-off
    enabled: false
    pattern: {source: [adops.analytics]}
    targets:
      - {id: incident, type: incident}
"""


def composite(entity: str, at: datetime, **detail: Any) -> dict[str, Any]:
    body = {
        "severity": "HIGH",
        "metrics_affected": 3,
        "entity_id": entity,
        "problem_type": "DEMAND_ISSUE",
        **detail,
    }
    return {
        "source": "adops.analytics",
        "detail-type": "Composite Anomaly Detected",
        "time": at.isoformat(),
        "detail": body,
    }


class Incidents:
    """A registered ``incident`` target of the test's own: records calls, idempotent by key."""

    def __init__(self) -> None:
        self.calls: list[TargetCall] = []
        self.fail_with: Exception | None = None

    def __call__(self, call: TargetCall) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(call)


@pytest.fixture()
def sink() -> Iterator[HttpSink]:
    with HttpSink() as server:
        yield server


@pytest.fixture()
def platform(settings: Settings, sink: HttpSink, tmp_path: Path) -> Iterator[Platform]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("{sink}", sink.url))
    s = settings.model_copy(update={"adops": AdopsSettings(rules_file=rules)})
    p = build_platform(s)
    yield p
    p.close()


@pytest.fixture()
def incidents(platform: Platform) -> Incidents:
    handler = Incidents()
    target_registry(platform).register("incident", handler)
    return handler


@pytest.fixture()
def runtime(platform: Platform, incidents: Incidents) -> EventRules:
    return build_event_rules(platform, sleep=lambda _s: None)


def drain(bus: Bus, runtime: EventRules) -> int:
    deliveries = bus.consume(runtime.topic, "adops-rules", "t", max_messages=100)
    outcomes = runtime.handle_batch(deliveries)
    assert outcomes == [None] * len(deliveries)
    bus.ack(deliveries)
    return len(deliveries)


def test_a_matching_event_reaches_every_target_once(
    platform: Platform, runtime: EventRules, incidents: Incidents, sink: HttpSink
) -> None:
    event = publish_event(platform.bus, composite("pub-1", T0))
    assert drain(platform.bus, runtime) == 1

    [call] = incidents.calls
    assert call.rule == "composite" and call.input["entity_id"] == "pub-1"  # input_path
    by_path = {r.path: r for r in sink.requests}
    assert by_path["/notify"].json()["title"] == "DEMAND_ISSUE on pub-1"  # the template
    assert by_path["/notify"].json()["severity"] == "critical"
    hook = by_path["/hook"]
    assert hook.json()["id"] == event.id
    assert hook.headers["idempotency-key"] == f"{event.id}/composite/hook"
    [forwarded] = platform.bus.replay("adops.forwarded")
    assert forwarded.payload["detail"]["entity_id"] == "pub-1"


def test_a_redelivered_batch_alerts_nobody_twice(
    platform: Platform, runtime: EventRules, incidents: Incidents, sink: HttpSink
) -> None:
    publish_event(platform.bus, composite("pub-1", T0))
    deliveries = platform.bus.consume(runtime.topic, "adops-rules", "t", max_messages=10)
    runtime.handle_batch(deliveries)  # handled, then the worker dies before acking
    requests = len(sink.requests)
    again = build_event_rules(platform, sleep=lambda _s: None)  # a new process's dispatcher
    assert again.handle_batch(deliveries) == [None]
    assert len(incidents.calls) == 1
    assert len(sink.requests) == requests
    assert len(platform.bus.replay("adops.forwarded")) == 1


def test_notifications_fold_by_dedup_key_within_the_window(
    platform: Platform, runtime: EventRules, incidents: Incidents, sink: HttpSink
) -> None:
    publish_event(platform.bus, composite("pub-1", T0))
    publish_event(platform.bus, composite("pub-1", T0 + timedelta(minutes=5)))
    publish_event(platform.bus, composite("pub-2", T0 + timedelta(minutes=5)))
    drain(platform.bus, runtime)
    notified = [r.json()["title"] for r in sink.requests if r.path == "/notify"]
    assert sorted(notified) == ["DEMAND_ISSUE on pub-1", "DEMAND_ISSUE on pub-2"]
    assert len(incidents.calls) == 3  # incidents see every event; they dedup on their own


def test_failing_targets_go_to_the_dead_letter_topic_with_the_reason(
    platform: Platform, runtime: EventRules, incidents: Incidents, sink: HttpSink
) -> None:
    sink.default = Reply(status=503, body="down")
    incidents.fail_with = TargetFailed("incident store refused it", retryable=False)
    publish_event(platform.bus, composite("pub-1", T0))
    publish_event(platform.bus, {"source": "adops.orphan", "detail-type": "x", "detail": {}})
    drain(platform.bus, runtime)

    dead = {m.payload["target"]: m for m in platform.bus.replay(dlq_topic("adops.events"))}
    assert set(dead) == {"incident", "page", "hook", "nowhere"}
    assert "incident store refused it" in dead["incident"].payload["reason"]
    assert dead["incident"].payload["attempts"] == 1  # not retryable: one try
    assert dead["hook"].payload["attempts"] == 2  # the target's max_attempts
    assert "503" in dead["hook"].headers["dlq-error"]
    assert "no handler for target type 'agent'" in dead["nowhere"].payload["reason"]
    assert dead["hook"].payload["event"]["detail"]["entity_id"] == "pub-1"
    # the topic target still delivered: one failing target does not stop the others
    assert len(platform.bus.replay("adops.forwarded")) == 1


def test_malformed_events_are_dead_lettered_not_retried(
    platform: Platform, runtime: EventRules
) -> None:
    platform.bus.publish(runtime.topic, {"source": "x", "detail": "not an object"})
    assert drain(platform.bus, runtime) == 1
    [dead] = platform.bus.replay(dlq_topic("adops.events"))
    assert dead.payload["reason"].startswith("event: ")
    assert "detail-type" in dead.payload["reason"] or "detail" in dead.payload["reason"]


def test_every_event_is_archived_and_replays_once_per_replay_name(
    platform: Platform, runtime: EventRules, incidents: Incidents
) -> None:
    for minute in range(6):
        publish_event(platform.bus, composite(f"pub-{minute}", T0 + timedelta(minutes=minute)))
    publish_event(platform.bus, {"source": "other", "detail-type": "y", "time": T0.isoformat()})
    drain(platform.bus, runtime)
    # the same batch archived twice (a crash before the ack) still counts each event once
    assert runtime.archive.count(T0, T0 + timedelta(hours=1)) == 7
    con = runtime.archive.connect()
    assert con.execute("SELECT COUNT(*) FROM adops_events WHERE source = 'other'").fetchone() == (
        1,
    )
    assert len(incidents.calls) == 6

    report = replay(
        runtime, T0 + timedelta(minutes=2), T0 + timedelta(minutes=5), name="r1", rule="composite"
    )
    assert report.events == 3 and report.matched == 3
    replayed = incidents.calls[6:]
    assert [c.input["entity_id"] for c in replayed] == ["pub-2", "pub-3", "pub-4"]
    assert all(c.event["replay-name"] == "r1" for c in replayed)
    again = replay(runtime, T0, T0 + timedelta(hours=1), name="r1", rule="composite")
    assert len(incidents.calls) == 9 + 3  # r1 re-sends only the three it had not
    assert again.skipped > 0


def test_disabled_rules_do_not_fire(platform: Platform, runtime: EventRules) -> None:
    names = [r.name for r in runtime.rules.matching(composite("p", T0) | {"id": "e1"})]
    assert "switched-off" not in names


def test_on_the_redis_bus_a_redelivery_alerts_once_and_failures_dead_letter(
    settings: Settings, sink: HttpSink, tmp_path: Path, redis_url: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("{sink}", sink.url))
    bus_url = f"{redis_url}?prefix=adops-events-test"
    s = settings.model_copy(update={"adops": AdopsSettings(rules_file=rules), "bus_url": bus_url})
    p = build_platform(s)
    try:
        incidents = Incidents()
        target_registry(p).register("incident", incidents)
        runtime = build_event_rules(p, sleep=lambda _s: None)
        sink.default = Reply(status=500, body="down")
        publish_event(p.bus, composite("pub-1", T0))
        deliveries = p.bus.consume(runtime.topic, "adops-rules", "t", max_messages=10)
        assert runtime.handle_batch(deliveries) == [None]
        again = build_event_rules(p, sleep=lambda _s: None)  # another process, same bus
        assert again.handle_batch(deliveries) == [None]
        p.bus.ack(deliveries)
        assert len(incidents.calls) == 1
        assert len(p.bus.replay("adops.forwarded")) == 1
        dead = [m.payload["target"] for m in p.bus.replay(dlq_topic("adops.events"))]
        assert sorted(dead) == ["hook", "page"]  # both HTTP targets failed, once each
    finally:
        p.close()


def test_retention_drops_old_archive_days_and_ledger_records(
    platform: Platform, runtime: EventRules, incidents: Incidents
) -> None:
    publish_event(platform.bus, composite("pub-old", T0 - timedelta(days=40)))
    publish_event(platform.bus, composite("pub-new", T0))
    drain(platform.bus, runtime)
    ledger = runtime.dispatcher.ledger
    assert ledger.outcome(f"{incidents.calls[0].event['id']}/composite/incident") == "delivered"

    days, records = runtime.prune(T0 + timedelta(hours=1), archive_days=30, ledger_days=7)
    assert days == 1 and records == 0  # the ledger's records were written just now
    assert runtime.archive.count(T0 - timedelta(days=41), T0 + timedelta(days=1)) == 1
    assert ledger.outcome(f"{incidents.calls[1].event['id']}/composite/incident") == "delivered"
    later = datetime.now(UTC) + timedelta(days=8)
    assert runtime.prune(later, archive_days=0, ledger_days=7)[1] >= 2
    assert ledger.outcome(f"{incidents.calls[1].event['id']}/composite/incident") is None
