"""Campaign sending: the send ledger (one row per campaign and lead) and the opt-outs.

``tenant_id`` is a plain integer (no foreign key to ``campaigns_tenants``): an opt-out nobody
had messaged is recorded for tenant 0, which binds every tenant and is no tenant row.

Revision ID: 0012_campaigns_sending
Revises: 0010_adops_incidents
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_campaigns_sending"
down_revision: str | None = "0010_adops_incidents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaigns_send_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idem_key", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("phone_index", sa.String(64), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("body_enc", sa.Text(), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("not_before"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        _ts("lease_until", nullable=True),
        _ts("first_try_at", nullable=True),
        sa.Column("provider_sid", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
        _ts("status_at", nullable=True),
        _ts("converted_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_send_ledger")),
        sa.UniqueConstraint("idem_key", name=op.f("uq_campaigns_send_ledger_idem_key")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_campaigns_send_ledger_provider_sid")),
    )
    op.create_index(
        "ix_campaigns_send_ledger_due", "campaigns_send_ledger", ["state", "not_before"]
    )
    op.create_index(
        "ix_campaigns_send_ledger_campaign",
        "campaigns_send_ledger",
        ["tenant_id", "campaign_id", "state"],
    )
    op.create_index(
        "ix_campaigns_send_ledger_recipient",
        "campaigns_send_ledger",
        ["tenant_id", "phone_index", "sent_at"],
    )
    op.create_table(
        "campaigns_opt_outs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("phone_index", sa.String(64), nullable=False),
        sa.Column("keyword", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_opt_outs")),
        sa.UniqueConstraint(
            "tenant_id", "phone_index", name=op.f("uq_campaigns_opt_outs_tenant_id_phone_index")
        ),
    )
    op.create_index(
        op.f("ix_campaigns_opt_outs_phone_index"), "campaigns_opt_outs", ["phone_index"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_campaigns_opt_outs_phone_index"), table_name="campaigns_opt_outs")
    op.drop_table("campaigns_opt_outs")
    for name in ("recipient", "campaign", "due"):
        op.drop_index(f"ix_campaigns_send_ledger_{name}", table_name="campaigns_send_ledger")
    op.drop_table("campaigns_send_ledger")
