"""Tables of live experiments and bandits (migration ``0014_campaigns_experiments``).

An experiment's design (variants and weights, its primary metric and guardrails) is one row;
each unit it has assigned is a row of ``campaigns_experiment_units`` (so exposures are counted
once per unit and the sample-ratio check sees what was really assigned), and each metric value
recorded for a unit is a row of ``campaigns_experiment_outcomes``. Results are computed from
these rows at every look; nothing statistical is stored. A live bandit keeps its arms' pulls and
rewards and a short history of its totals, enough to draw its posterior and its regret curve.
Every row carries ``tenant_id`` and is read through :class:`ssmas.campaigns.scope.TenantScope`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db import Base, JsonType, UtcDateTime, utcnow

__all__ = ["Experiment", "ExperimentOutcome", "ExperimentUnit", "LiveBandit"]


class Experiment(Base):
    """An experiment of a tenant: its key (the assignment's hashing salt), variants with
    weights (first is control), primary metric, guardrails and state."""

    __tablename__ = "campaigns_experiments"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("campaigns_campaigns.id", ondelete="SET NULL"), nullable=True
    )
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    metric: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    guardrails: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    alpha: Mapped[float] = mapped_column(default=0.05)
    planned_total: Mapped[int | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    winner: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    decision: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    concluded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ExperimentUnit(Base):
    """A unit (a lead, a phone, a visitor) assigned to a variant, once per experiment;
    ``covariate`` is its pre-period value of the metric, for CUPED."""

    __tablename__ = "campaigns_experiment_units"
    __table_args__ = (sa.UniqueConstraint("experiment_id", "unit"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )
    experiment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_experiments.id", ondelete="CASCADE")
    )
    unit: Mapped[str] = mapped_column(sa.String(128))
    variant: Mapped[str] = mapped_column(sa.String(64))
    covariate: Mapped[float | None] = mapped_column(nullable=True)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ExperimentOutcome(Base):
    """A unit's value of one metric (conversions 0/1 are kept at most 1; a mean metric's values
    add up, e.g. revenue over several orders)."""

    __tablename__ = "campaigns_experiment_outcomes"
    __table_args__ = (sa.UniqueConstraint("unit_id", "metric"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )
    experiment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_experiments.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_experiment_units.id", ondelete="CASCADE")
    )
    metric: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[float] = mapped_column(default=0.0)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LiveBandit(Base):
    """A Thompson-sampling bandit over a campaign's arms (message variant x send time): pulls
    and rewards per arm, and ``history`` ``[[pulls, rewards, regret], ...]`` (regret only when
    the arms' true rates are known, as in the simulator)."""

    __tablename__ = "campaigns_bandits"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("campaigns_campaigns.id", ondelete="SET NULL"), nullable=True
    )
    arms: Mapped[list[str]] = mapped_column(JsonType, default=list)
    pulls: Mapped[list[int]] = mapped_column(JsonType, default=list)
    rewards: Mapped[list[float]] = mapped_column(JsonType, default=list)
    true_rates: Mapped[list[float] | None] = mapped_column(JsonType, nullable=True)
    history: Mapped[list[list[float]]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
