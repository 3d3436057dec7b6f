"""Prometheus metrics of the incident manager (``ssmas_adops_*``)."""

from __future__ import annotations

from ssmas.core.metrics import counter, gauge, histogram

ALERTS = counter("adops", "alerts", "Alerts taken in, by outcome", ["outcome"])
OPENED = counter("adops", "incidents_opened", "Incidents opened, by severity", ["severity"])
RESOLVED = counter(
    "adops", "incidents_resolved", "Incidents resolved, by who (auto/human)", ["how"]
)
ACKED = counter("adops", "incidents_acknowledged", "Incidents acknowledged by a person")
NOTIFIED = counter("adops", "incident_notifications", "Notifications sent, by event", ["event"])
MTTR = histogram(
    "adops",
    "incident_resolution",
    "Time from an incident's first alert to its resolution (MTTR), stream time",
    buckets=(60, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400),
)
AUTOMATION = gauge(
    "adops", "incident_automation", "ratio", "Share of resolved incidents no person touched"
)
OPEN = gauge("adops", "incidents_open", "count", "Incidents not resolved")
