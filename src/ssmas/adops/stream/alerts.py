"""What the stream emits: one alert per entity and closed minute with anomalous metrics."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class MetricAnomaly(BaseModel):
    """One metric's state when it scored as anomalous."""

    model_config = ConfigDict(frozen=True)

    value: float
    sliding_mean: float
    baseline: float
    z: float
    score: float = Field(ge=0.0, le=1.0)


class Alert(BaseModel):
    """An entity's anomalous minute: the metrics that were anomalous, classified by the
    composite rules. ``fingerprint`` names what is wrong (source, entity, metrics), not when:
    the same fingerprint again is the same alert repeating."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    source: str
    entity_type: str
    entity_id: str
    ts: AwareDatetime
    metrics: dict[str, MetricAnomaly]
    score: float = Field(ge=0.0, le=1.0)
    problem_type: str
    severity: str

    @property
    def metrics_affected(self) -> int:
        return len(self.metrics)

    @property
    def alert_key(self) -> str:
        """Unique per fingerprint and minute: what makes a redelivered alert a no-op."""
        return f"{self.fingerprint}:{int(self.ts.timestamp())}"


def fingerprint(source: str, entity_type: str, entity_id: str, metrics: list[str]) -> str:
    text = "|".join((source, entity_type, entity_id, ",".join(sorted(metrics))))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def utc_minute(at: datetime) -> int:
    """Epoch seconds of the minute ``at`` falls in."""
    return int(at.timestamp()) // 60 * 60
