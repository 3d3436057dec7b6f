"""The healing journal's table: one row per healing action of any host's supervisor.

Every ``ssmas up`` of a deployment writes to the platform's database, so an operator reading
``GET /ops/healing`` on any host sees one journal (``host`` says whose supervisor acted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db import Base, JsonType, UtcDateTime


class HealingActionRow(Base):
    """One healing action as :class:`~ssmas.ops.healing.journal.HealingAction` holds it."""

    __tablename__ = "ops_healing_actions"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    host: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(32))
    worker: Mapped[str] = mapped_column(sa.String(200))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.Text())
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
