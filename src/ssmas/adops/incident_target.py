"""The event rules' ``incident`` target: any matching event becomes an alert of the incident
manager, so rules over events from outside the stream (partner health checks, security
findings, composite anomalies published by others) open and grow incidents like the stream's
own alerts do.

An event whose ``detail`` already is an :class:`~ssmas.adops.stream.alerts.Alert` is taken as
it is. Any other event is read for what an alert needs: the entity (``entity_type`` /
``entity_id``, else ``partner_id`` / ``publisher_id`` / ``ad_unit_id``, else its first
resource, else its source), the problem (``problem_type``, else the event's ``detail-type``),
the severity (a word, or a number on the 0 to 10 scale of security findings) and a score. The
fingerprint covers source, entity and problem, and the minute comes from the event's time, so a
redelivered event is the same alert and a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ssmas.adops.events.targets import Handler, TargetCall, TargetFailed
from ssmas.adops.incidents import IncidentError
from ssmas.adops.runtime import ingest_alert
from ssmas.adops.stream.alerts import Alert, fingerprint

if TYPE_CHECKING:
    from ssmas.core.platform import Platform

__all__ = ["alert_from_event", "incident_target"]

_ENTITY_KEYS = (
    ("partner_id", "partner"),
    ("publisher_id", "publisher"),
    ("ad_unit_id", "ad_unit"),
    ("service", "service"),
)
_SCORES = {"critical": 1.0, "high": 0.9, "medium": 0.7, "low": 0.5}


def _severity(value: Any) -> str:
    if isinstance(value, bool):
        return "medium"
    if isinstance(value, int | float):
        # security findings: 7 to 8.9 high, 9+ critical (GuardDuty / Security Hub's bands)
        for floor, word in ((9, "critical"), (7, "high"), (4, "medium")):
            if value >= floor:
                return word
        return "low"
    word = str(value or "").strip().lower()
    return word if word in _SCORES else "medium"


def _entity(event: Mapping[str, Any], detail: Mapping[str, Any]) -> tuple[str, str]:
    if detail.get("entity_id"):
        return str(detail.get("entity_type") or "service"), str(detail["entity_id"])
    for key, kind in _ENTITY_KEYS:
        if detail.get(key):
            return kind, str(detail[key])
    resources = event.get("resources") or []
    if resources:
        return "resource", str(resources[0])
    return "service", str(event.get("source") or "unknown")


def _time(event: Mapping[str, Any]) -> datetime:
    raw = event.get("time")
    try:
        at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def alert_from_event(event: Mapping[str, Any]) -> Alert | dict[str, Any]:
    """The alert an event stands for: its ``detail`` when that is an alert already, else one
    built from the event's fields (returned as JSON, validated by ``ingest_alert``)."""
    detail = event.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    if "fingerprint" in detail and "metrics" in detail:
        return dict(detail)
    entity_type, entity_id = _entity(event, detail)
    source = str(event.get("source") or "events")[:40]
    problem = str(detail.get("problem_type") or event.get("detail-type") or "event")[:64]
    severity = _severity(detail.get("severity"))
    score = detail.get("score")
    if not isinstance(score, int | float) or isinstance(score, bool) or not 0 <= score <= 1:
        score = _SCORES[severity]
    return {
        "fingerprint": fingerprint(source, entity_type, entity_id, [problem]),
        "source": source,
        "entity_type": entity_type[:40],
        "entity_id": entity_id[:200],
        "ts": _time(event).isoformat(),
        "metrics": {},
        "score": float(score),
        "problem_type": problem,
        "severity": severity,
    }


def incident_target(platform: Platform) -> Handler:
    """The handler of ``type: incident`` targets on ``platform``'s incident manager."""

    def handle(call: TargetCall) -> None:
        try:
            ingest_alert(platform, alert_from_event(call.event))
        except IncidentError as exc:
            raise TargetFailed(str(exc), retryable=False) from None

    return handle
