"""The event rules' ``incident`` target on the real incident manager: the shipped rules turn a
composite anomaly and a partner health check into incidents, once, whatever the redelivery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ssmas.adops.events import publish_event, target_registry
from ssmas.adops.events.service import EventRules, build_event_rules
from ssmas.adops.incident_target import alert_from_event
from ssmas.adops.runtime import incident_service
from ssmas.core.bus import dlq_topic
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import Settings

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    p = build_platform(settings)  # the shipped default rules
    yield p
    p.close()


@pytest.fixture()
def rules(platform: Platform) -> EventRules:
    return build_event_rules(platform, sleep=lambda _s: None)


def composite(entity: str, at: datetime, severity: str = "CRITICAL") -> dict[str, object]:
    return {
        "source": "adops.analytics",
        "detail-type": "Composite Anomaly Detected",
        "time": at.isoformat(),
        "detail": {
            "severity": severity,
            "metrics_affected": 3,
            "entity_type": "partner",
            "entity_id": entity,
            "problem_type": "DEMAND_ISSUE",
        },
    }


def drain(platform: Platform, rules: EventRules) -> int:
    deliveries = platform.bus.consume(rules.topic, "adops-rules", "t", max_messages=100)
    rules.handle_batch(deliveries)
    platform.bus.ack(deliveries)
    return len(deliveries)


def test_the_incident_target_is_registered_in_every_process(platform: Platform) -> None:
    assert "incident" in target_registry(platform).names()


def test_a_composite_anomaly_opens_one_incident_and_a_redelivery_adds_nothing(
    platform: Platform, rules: EventRules
) -> None:
    publish_event(platform.bus, composite("dsp-7", T0))
    deliveries = platform.bus.consume(rules.topic, "adops-rules", "t", max_messages=10)
    rules.handle_batch(deliveries)
    build_event_rules(platform, sleep=lambda _s: None).handle_batch(deliveries)  # redelivered
    platform.bus.ack(deliveries)

    [incident] = incident_service(platform).list_incidents()
    assert incident["severity"] == "critical"
    assert incident["problem_type"] == "DEMAND_ISSUE"
    detail = incident_service(platform).get(incident["incident_id"])
    assert [a["entity_id"] for a in detail["alerts"]] == ["dsp-7"]
    assert platform.bus.replay(dlq_topic("adops.events")) == []


def test_a_later_event_on_the_same_partner_joins_its_incident(
    platform: Platform, rules: EventRules
) -> None:
    publish_event(platform.bus, composite("dsp-7", T0))
    publish_event(platform.bus, composite("dsp-7", T0 + timedelta(minutes=3), "HIGH"))
    publish_event(platform.bus, composite("dsp-9", T0 + timedelta(hours=2)))  # outside windows
    drain(platform, rules)
    service = incident_service(platform)
    incidents = service.list_incidents()
    assert len(incidents) == 2  # one per partner: the repeat on dsp-7 joined its incident
    entities = sorted(
        tuple(a["entity_id"] for a in service.get(i["incident_id"])["alerts"]) for i in incidents
    )
    assert entities == [("dsp-7",), ("dsp-9",)]
    dsp7 = next(i for i in incidents if i["entity_id"] == "dsp-7")
    assert dsp7["severity"] == "critical"  # the HIGH repeat does not lower it


def test_a_partner_health_check_becomes_an_incident_of_that_partner(
    platform: Platform, rules: EventRules
) -> None:
    publish_event(
        platform.bus,
        {
            "source": "adops.monitoring",
            "detail-type": "Partner Health Check",
            "time": T0.isoformat(),
            "detail": {
                "partner_id": "dsp-3",
                "partner_status": "UNHEALTHY",
                "impact_assessment": {"revenue_impact": 2500},
            },
        },
    )
    assert drain(platform, rules) == 1
    [incident] = incident_service(platform).list_incidents()
    alerts = incident_service(platform).get(incident["incident_id"])["alerts"]
    assert [(a["entity_type"], a["entity_id"]) for a in alerts] == [("partner", "dsp-3")]
    assert incident["problem_type"] == "Partner Health Check"


@pytest.mark.parametrize(
    ("severity", "expected"), [(9.5, "critical"), (7, "high"), (5, "medium"), (1, "low")]
)
def test_security_severities_map_onto_the_incident_scale(severity: float, expected: str) -> None:
    alert = alert_from_event(
        {
            "source": "ssmas.security",
            "detail-type": "Security Finding",
            "detail": {"severity": severity},
        }
    )
    assert isinstance(alert, dict) and alert["severity"] == expected
    assert alert["entity_id"] == "ssmas.security"  # no entity named: the source stands for it
