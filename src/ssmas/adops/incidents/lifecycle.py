"""Pure rules of incidents: states and their moves, correlation of an alert, silences.

An alert joins an open incident (any state but resolved) when it is about the same entity and
that incident's last alert is within ``correlation_window``, or when it is about an entity
*related* to the incident's (the exchange to every partner and publisher, a partner to every
publisher: two entities of different kinds) and that incident alerted within
``group_window``: a partner's outage shows on many publishers' latency and revenue and on the
exchange's totals, and it is one incident (the most upstream one when there is a choice).
Entities of the same kind join only in a burst: an alert on another publisher within
``group_window`` of the incident's opening (a storm of publishers at once has one cause;
two publishers failing an hour apart are two incidents). A
resolved incident takes nothing: a new alert after it opens a new incident.

Nor does an old incident take a *new* entity: an entity that is not yet one of the incident's
joins it only within ``group_span`` of its opening (a cascade shows on the related entities
within its first minutes; an entity alerting for the first time an hour later is a new fault).
Counting only from the incident's last alert let a long-lived incident (a publisher whose RPM
took an hour to settle back) swallow every later fault on any ad unit or on the exchange;
the entities already in it keep joining while it alerts, so one fault stays one incident.

An alert *upstream* of an incident's root moves the root up when it joins (the cause is where
the totals are: a publisher's RPM drop first seen on one of its ad units), so it joins only an
incident whose root its own metrics contain (:data:`CONTAINS`: the exchange's totals hold every
partner, publisher and ad unit, a publisher's its ad units; which publisher owns an ad unit is
not known here, so any ad unit counts). A partner's metrics (its bids,
errors, latency) hold no publisher's or ad unit's: a partner's outage is its own fault, never
explained by an ad unit's fill blip two minutes before it, so its alert opens its own incident
rather than taking over (and being dated from) an incident a downstream alert opened earlier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

State = Literal["open", "triaged", "mitigating", "resolved", "escalated"]
STATES: tuple[State, ...] = ("open", "triaged", "mitigating", "resolved", "escalated")
MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"triaged", "mitigating", "resolved", "escalated"}),
    "triaged": frozenset({"mitigating", "resolved", "escalated"}),
    "mitigating": frozenset({"triaged", "resolved", "escalated"}),
    "escalated": frozenset({"mitigating", "resolved"}),
    "resolved": frozenset(),
}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
# upstream first: an alert may join an incident of an entity ranked before its own
ENTITY_RANK = {"exchange": 0, "partner": 1, "publisher": 2, "ad_unit": 3}
# whose metrics an entity's totals hold: an incident rooted there may move up to it
CONTAINS: dict[str, frozenset[str]] = {
    "exchange": frozenset({"partner", "publisher", "ad_unit"}),
    "partner": frozenset(),
    "publisher": frozenset({"ad_unit"}),
    "ad_unit": frozenset(),
}


class IncidentError(ValueError):
    """A request about incidents that cannot be done (unknown id, a move not allowed...)."""


class IncidentNotFound(IncidentError):
    """No incident (or silence) has that id: the API answers 404."""


@dataclass(frozen=True)
class CorrelationPolicy:
    correlation_window: timedelta = timedelta(minutes=30)
    group_window: timedelta = timedelta(minutes=10)
    auto_resolve_after: timedelta = timedelta(minutes=30)
    group_span: timedelta = timedelta(minutes=60)  # a new entity joins this young an incident


@dataclass(frozen=True)
class OpenIncident:
    """What correlation needs of an incident that is not resolved."""

    incident_id: str
    entity_type: str
    entity_id: str
    last_alert_at: datetime
    opened_at: datetime
    entities: tuple[str, ...] = ()  # ``type/id`` of every entity already in the incident


def check_move(current: str, target: str) -> None:
    if target not in STATES:
        raise IncidentError(f"unknown state {target!r}; choose from {', '.join(STATES)}")
    if target not in MOVES[current]:
        allowed = ", ".join(sorted(MOVES[current])) or "none (resolved is final)"
        raise IncidentError(
            f"cannot move an incident from {current} to {target} (allowed: {allowed})"
        )


def correlate(
    entity_type: str,
    entity_id: str,
    at: datetime,
    candidates: Sequence[OpenIncident],
    policy: CorrelationPolicy,
) -> str | None:
    """The incident an alert joins, or None for a new one (same entity first, then upstream)."""
    same = [
        c
        for c in candidates
        if c.entity_type == entity_type
        and c.entity_id == entity_id
        and at - c.last_alert_at <= policy.correlation_window
    ]
    if same:
        return max(same, key=lambda c: c.last_alert_at).incident_id
    rank = ENTITY_RANK.get(entity_type)
    if rank is None:
        return None
    key = f"{entity_type}/{entity_id}"
    related = [
        c
        for c in candidates
        if c.entity_type in ENTITY_RANK
        and at - c.last_alert_at <= policy.group_window
        and (ENTITY_RANK[c.entity_type] != rank or at - c.opened_at <= policy.group_window)
        and (key in c.entities or at - c.opened_at <= policy.group_span)
        and (ENTITY_RANK[c.entity_type] <= rank or c.entity_type in CONTAINS.get(entity_type, ()))
    ]
    if not related:
        return None
    best = min(related, key=lambda c: (ENTITY_RANK[c.entity_type], -c.last_alert_at.timestamp()))
    return best.incident_id


def silence_matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every matcher equals the alert's label (``entity_id`` may end in ``*`` for a prefix)."""
    for name, want in matchers.items():
        have = labels.get(name, "")
        if want.endswith("*"):
            if not have.startswith(want[:-1]):
                return False
        elif have != want:
            return False
    return True


def worse(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if SEVERITY_RANK.get(a, 9) <= SEVERITY_RANK.get(b, 9) else b
