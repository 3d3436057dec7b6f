"""Delivery statuses keep the send token Meta echoes (``biz_opaque_callback_data``).

A takeover of a lapsed send claim looks the token up before sending again, so a reply whose
first sender died after Meta accepted it is recorded as sent instead of going out twice.

Revision ID: 0006_assistant_send_token
Revises: 0004_pricing
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_assistant_send_token"
down_revision: str | None = "0004_pricing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "assistant_delivery_status", sa.Column("callback_data", sa.String(512), nullable=True)
    )
    op.create_index(
        op.f("ix_assistant_delivery_status_callback_data"),
        "assistant_delivery_status",
        ["callback_data"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_assistant_delivery_status_callback_data"), table_name="assistant_delivery_status"
    )
    with op.batch_alter_table("assistant_delivery_status") as batch:
        batch.drop_column("callback_data")
