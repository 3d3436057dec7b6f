"""AdOps incidents: deduplicated, silenced and correlated alerts with a lifecycle and timeline."""

from __future__ import annotations

from ssmas.adops.incidents.lifecycle import (
    STATES,
    CorrelationPolicy,
    IncidentError,
    IncidentNotFound,
)
from ssmas.adops.incidents.service import IncidentService, IngestResult

__all__ = [
    "STATES",
    "CorrelationPolicy",
    "IncidentError",
    "IncidentNotFound",
    "IncidentService",
    "IngestResult",
]
