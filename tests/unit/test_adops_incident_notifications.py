"""Every incident severity becomes a notification the core's notifiers accept (a "high"
incident used to build severity "error", which Notification refuses, so nothing was sent)."""

from __future__ import annotations

import pytest

from ssmas.adops.incidents.service import _notification


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "critical"), ("high", "critical"), ("medium", "warning"), ("low", "info")],
)
def test_each_incident_severity_maps_to_a_notifier_severity(severity: str, expected: str) -> None:
    incident = {
        "incident_id": "inc-1",
        "title": "RPM drop on pub-7",
        "state": "open",
        "alert_count": 3,
        "entities": ["publisher:pub-7"],
        "problem_type": "DEMAND_ISSUE",
        "severity": severity,
    }
    note = _notification("opened", incident)
    assert note.severity == expected and note.dedup_key == "inc-1" and not note.resolved
    assert _notification("resolved", incident).resolved
