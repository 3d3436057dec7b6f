"""The retraining workflow's record: one row per decision, and the events it publishes.

Table ``pricing_retrain_decisions`` (migration ``0004_pricing``). Every run of the workflow
writes one row, whatever it decided, and publishes ``pricing.retrain_decided``; a promotion
also publishes ``pricing.model_promoted``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ssmas.core.bus.base import Bus
from ssmas.core.db import Base, JsonType, UtcDateTime

TOPIC_DECIDED = "pricing.retrain_decided"
TOPIC_PROMOTED = "pricing.model_promoted"
Trigger = Literal["schedule", "command", "forced", "scheduled", "online", "approved"]
Outcome = Literal[
    "monitoring",
    "scheduled",
    "promoted",
    "kept_champion",
    "bootstrapped",
    "challenger_deployed",
    "rolled_back",
]


class RetrainDecisionRow(Base):
    """One decision of the retraining workflow."""

    __tablename__ = "pricing_retrain_decisions"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    trigger: Mapped[str] = mapped_column(sa.String(16))
    drift_score: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    drift_level: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    outcome: Mapped[str] = mapped_column(sa.String(32))
    champion_version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    challenger_version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    champion_rmse: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    challenger_rmse: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    promoted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    scheduled_for: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class RetrainDecision(BaseModel):
    """What the workflow decided and why; the payload of ``pricing.retrain_decided``."""

    id: int | None = None
    decided_at: datetime
    trigger: Trigger
    drift_score: float | None = None
    drift_level: str | None = None
    action: str
    outcome: Outcome
    champion_version: int | None = None
    challenger_version: int | None = None
    champion_rmse: float | None = None
    challenger_rmse: float | None = None
    promoted: bool = False
    scheduled_for: datetime | None = None
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)


_FIELDS = [name for name in RetrainDecision.model_fields if name != "id"]


def record_decision(
    sessions: sessionmaker[Session], bus: Bus | None, decision: RetrainDecision
) -> RetrainDecision:
    """Store ``decision``, then publish its events; returns it with its row id."""
    with sessions() as session:
        row = RetrainDecisionRow(**decision.model_dump(include=set(_FIELDS)))
        session.add(row)
        session.commit()
        stored = decision.model_copy(update={"id": row.id})
    if bus is not None:
        payload = stored.model_dump(mode="json")
        bus.publish(TOPIC_DECIDED, payload, key=f"retrain-decision-{stored.id}")
        if stored.promoted:
            bus.publish(
                TOPIC_PROMOTED,
                {
                    "model_version": stored.challenger_version,
                    "previous_version": stored.champion_version,
                    "decision_id": stored.id,
                    "decided_at": payload["decided_at"],
                    "reason": stored.reason,
                },
                key=f"retrain-promotion-{stored.id}",
            )
    return stored


def recent_decisions(sessions: sessionmaker[Session], limit: int = 20) -> list[RetrainDecision]:
    """The newest decisions first."""
    with sessions() as session:
        rows = session.scalars(
            sa.select(RetrainDecisionRow)
            .order_by(RetrainDecisionRow.decided_at.desc(), RetrainDecisionRow.id.desc())
            .limit(limit)
        ).all()
        return [
            RetrainDecision.model_validate({"id": r.id, **{f: getattr(r, f) for f in _FIELDS}})
            for r in rows
        ]


def pending_schedule(sessions: sessionmaker[Session]) -> RetrainDecision | None:
    """The latest decision if it scheduled a retraining that has not run yet."""
    latest = recent_decisions(sessions, limit=1)
    if latest and latest[0].outcome == "scheduled" and latest[0].scheduled_for is not None:
        return latest[0]
    return None
