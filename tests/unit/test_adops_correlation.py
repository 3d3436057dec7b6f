"""Correlation of alerts into incidents: a long-lived incident does not swallow a later fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ssmas.adops.incidents.lifecycle import CorrelationPolicy, OpenIncident, correlate

T0 = datetime(2024, 10, 22, tzinfo=UTC)
POLICY = CorrelationPolicy()


def _at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def _incident(
    entity_type: str, entity_id: str, opened: float, last: float, members: tuple[str, ...] = ()
) -> OpenIncident:
    own = f"{entity_type}/{entity_id}"
    return OpenIncident(
        incident_id="inc-1",
        entity_type=entity_type,
        entity_id=entity_id,
        last_alert_at=_at(last),
        opened_at=_at(opened),
        entities=(own, *members),
    )


def test_an_old_incident_still_alerting_does_not_take_a_new_entity() -> None:
    # a publisher's incident opened 90 minutes ago and alerting still (a slow recovery):
    # an ad unit's first alert now is a new fault, not part of it
    old = _incident("publisher", "pub-007", opened=0, last=88)
    assert correlate("ad_unit", "pub-019-u1", _at(90), [old], POLICY) is None
    # nor is an exchange-wide alert an hour and a half into a publisher's incident
    assert correlate("exchange", "exchange", _at(90), [old], POLICY) is None


def test_a_young_incident_takes_related_entities_and_members_stay_with_it() -> None:
    young = _incident("partner", "corvus", opened=0, last=8)
    assert correlate("publisher", "pub-001", _at(12), [young], POLICY) == "inc-1"
    # a publisher that joined early keeps joining while the partner's incident alerts
    long = _incident("partner", "corvus", opened=0, last=88, members=("publisher/pub-001",))
    assert correlate("publisher", "pub-001", _at(90), [long], POLICY) == "inc-1"
    assert correlate("publisher", "pub-002", _at(90), [long], POLICY) is None


def test_the_same_entity_alerting_on_is_deduplicated_into_its_incident() -> None:
    running = _incident("publisher", "pub-007", opened=0, last=88)
    assert correlate("publisher", "pub-007", _at(100), [running], POLICY) == "inc-1"
    # quiet for longer than the correlation window: a new incident
    assert correlate("publisher", "pub-007", _at(130), [running], POLICY) is None


def test_a_partner_alert_does_not_take_over_an_incident_an_ad_unit_opened() -> None:
    # an ad unit's lone fill blip opened an incident two minutes before a partner's outage:
    # the partner's metrics hold no ad unit's, so its alert opens its own incident (dated from
    # the outage) instead of moving that incident's root up to itself
    blip = _incident("ad_unit", "pub-005-u5", opened=0, last=0)
    assert correlate("partner", "orbit", _at(2), [blip], POLICY) is None
    # nor does it take over a publisher's
    publisher = _incident("publisher", "pub-005", opened=0, last=1)
    assert correlate("partner", "orbit", _at(2), [publisher], POLICY) is None
    # totals that hold the ad unit still take its incident over: its publisher, the exchange
    assert correlate("publisher", "pub-005", _at(2), [blip], POLICY) == "inc-1"
    assert correlate("exchange", "exchange", _at(2), [blip], POLICY) == "inc-1"
    # and a partner's incident still takes the publishers and ad units alerting after it
    outage = _incident("partner", "orbit", opened=2, last=2)
    assert correlate("ad_unit", "pub-005-u5", _at(4), [outage], POLICY) == "inc-1"
