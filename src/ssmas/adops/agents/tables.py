"""Database tables of the AdOps agents (migration 0021): cases, actions and approvals.

A *case* is the agents' work on one incident (classification, the specialist, the hypotheses
still to try); an *action* is one remediation tool call with its idempotency key, the change it
made, its undo and its verification; an *approval* is a request for a named person to allow a
high-risk action, with an expiry. Decisions themselves go to the core's append-only audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db import Base, JsonType, UtcDateTime, utcnow


class AgentCaseRow(Base):
    __tablename__ = "adops_agent_cases"

    incident_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    category: Mapped[str] = mapped_column(sa.String(20))
    agent: Mapped[str] = mapped_column(sa.String(40))
    state: Mapped[str] = mapped_column(sa.String(20), index=True)
    hypotheses: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    next_hypothesis: Mapped[int] = mapped_column(sa.Integer, default=0)
    mode: Mapped[str] = mapped_column(sa.String(10))
    reference_at: Mapped[datetime] = mapped_column(UtcDateTime())
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    planner: Mapped[str] = mapped_column(sa.String(20), default="playbook")


class AgentActionRow(Base):
    __tablename__ = "adops_agent_actions"

    action_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    incident_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    agent: Mapped[str] = mapped_column(sa.String(40))
    tool: Mapped[str] = mapped_column(sa.String(60))
    args: Mapped[dict[str, Any]] = mapped_column(JsonType)
    target: Mapped[str] = mapped_column(sa.String(200), index=True)
    risk: Mapped[str] = mapped_column(sa.String(10))
    blast_radius: Mapped[float] = mapped_column(sa.Float, default=0.0)
    mode: Mapped[str] = mapped_column(sa.String(10))
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    change: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    undo: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    version_before: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    version_after: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    verify: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    approval_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)


class ApprovalRow(Base):
    __tablename__ = "adops_approvals"

    approval_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    action_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    incident_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    tool: Mapped[str] = mapped_column(sa.String(60))
    args: Mapped[dict[str, Any]] = mapped_column(JsonType)
    risk: Mapped[str] = mapped_column(sa.String(10))
    summary: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(200))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    note: Mapped[str] = mapped_column(sa.Text, default="")
