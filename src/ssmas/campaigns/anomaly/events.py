"""Anomalies as bus events: ``AnomalyDetected`` on the ``campaigns.anomalies`` topic, one per
flagged row, and the same anomaly as an AdOps event on ``adops.events`` (EventBridge-shaped:
``source`` ``ssmas.campaigns``, ``detail-type`` ``Campaign Anomaly Detected``, the payload as
``detail``), the topic AdOps' ``rules`` worker reads, so its event rules route them (page
someone, open an incident, pause a send; the shipped rules page on critical ones) without
importing campaigns.

A payload carries what a rule needs to decide: where the row came from (``source``: validations
or campaigns), which entity, the ensemble score and a severity, each detector's score, and the
row's metric values. Publishing is idempotent per ``(source, entity, run)``, so a retried batch
does not raise the same anomaly twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from pydantic import AwareDatetime, BaseModel, Field

from ssmas.campaigns.anomaly.ensemble import AnomalyEnsemble, AnomalyInputError
from ssmas.core.bus import Bus

__all__ = [
    "ADOPS_DETAIL_TYPE",
    "ADOPS_SOURCE",
    "TOPIC_ADOPS_EVENTS",
    "TOPIC_ANOMALIES",
    "AnomalyDetected",
    "adops_event",
    "detect_anomalies",
    "publish_anomalies",
]

TOPIC_ANOMALIES = "campaigns.anomalies"
# AdOps' event rules read this topic; the envelope is the EventBridge shape they parse
TOPIC_ADOPS_EVENTS = "adops.events"
ADOPS_SOURCE = "ssmas.campaigns"
ADOPS_DETAIL_TYPE = "Campaign Anomaly Detected"
CRITICAL = 0.99
_NOT_ID = re.compile(r"[^A-Za-z0-9_.:\-]")


class AnomalyDetected(BaseModel):
    """One anomalous row (a validation batch, a campaign's metrics) found by the ensemble."""

    event_type: Literal["anomaly_detected"] = "anomaly_detected"
    source: str
    entity_id: str
    score: float = Field(ge=0.0, le=1.0)
    severity: Literal["warning", "critical"]
    detectors: dict[str, float]
    metrics: dict[str, float]
    run_id: str
    detected_at: AwareDatetime

    @property
    def key(self) -> str:
        """The idempotency key on the bus."""
        return f"{self.source}:{self.entity_id}:{self.run_id}"


def detect_anomalies(
    frame: pd.DataFrame,
    *,
    source: str,
    id_column: str,
    feature_columns: Sequence[str],
    threshold: float = 0.95,
    ensemble: AnomalyEnsemble | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> list[AnomalyDetected]:
    """Score every row of ``frame`` and return events for rows whose ensemble score reaches
    ``threshold``, most anomalous first. Without a fitted ``ensemble`` one is fitted on the
    frame itself (the batch is its own reference)."""
    if frame.empty:
        raise AnomalyInputError("no rows to score")
    if id_column not in frame.columns:
        raise AnomalyInputError(f"missing id column {id_column!r}")
    if not 0 < threshold <= 1:
        raise AnomalyInputError(f"threshold must be in (0, 1], got {threshold}")
    features = frame.loc[:, list(feature_columns)]
    model = ensemble or AnomalyEnsemble().fit(features)
    scores = model.score(features)
    when = now or datetime.now(UTC)
    run = run_id or when.strftime("%Y%m%dT%H%M%SZ")
    events = []
    for i in scores.top(len(frame)):
        score = float(scores.ensemble[i])
        if score < threshold:
            break
        row = features.iloc[int(i)]
        events.append(
            AnomalyDetected(
                source=source,
                entity_id=str(frame[id_column].iloc[int(i)]),
                score=score,
                severity="critical" if score >= CRITICAL else "warning",
                detectors={name: float(s[i]) for name, s in scores.members.items()},
                metrics={str(k): float(v) for k, v in row.items()},
                run_id=run,
                detected_at=when,
            )
        )
    return events


def adops_event(event: AnomalyDetected) -> dict[str, Any]:
    """The anomaly as an AdOps event envelope; its ``id`` comes from the anomaly's key, so the
    same anomaly published twice is one event."""
    raw = f"campaigns-anomaly:{event.key}"
    event_id = _NOT_ID.sub("-", raw)
    if len(event_id) > 128:
        event_id = f"campaigns-anomaly:{hashlib.sha256(raw.encode()).hexdigest()}"
    return {
        "version": "0",
        "id": event_id,
        "source": ADOPS_SOURCE,
        "detail-type": ADOPS_DETAIL_TYPE,
        "time": event.detected_at.isoformat(),
        "account": "ssmas",
        "region": "local",
        "resources": [f"campaigns:{event.source}:{event.entity_id}"[:1600]],
        "detail": event.model_dump(mode="json"),
    }


def publish_anomalies(
    bus: Bus,
    events: Sequence[AnomalyDetected],
    *,
    adops_topic: str | None = TOPIC_ADOPS_EVENTS,
) -> list[str]:
    """Publish ``events`` on :data:`TOPIC_ANOMALIES` in one atomic batch, and as AdOps events on
    ``adops_topic`` (``None``: not); returns the anomalies' message ids."""
    if not events:
        return []
    items = [(event.key, event.model_dump(mode="json")) for event in events]
    ids = bus.publish_batch(TOPIC_ANOMALIES, items)
    if adops_topic is not None:
        envelopes = [adops_event(event) for event in events]
        bus.publish_batch(adops_topic, [(f"event/{e['id']}", e) for e in envelopes])
    return ids
