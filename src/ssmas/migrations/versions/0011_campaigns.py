"""Campaigns tables: tenants and their API keys, metered usage, lead imports, leads, segments
(with cluster members) and campaigns.

Revision ID: 0011_campaigns
Revises: 0007_core_sessions
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_campaigns"
down_revision: str | None = "0007_core_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["campaigns_tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_campaigns_tenants"),
        ondelete="CASCADE",
    )


def _tenant_index(table: str) -> None:
    op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"])


def upgrade() -> None:
    op.create_table(
        "campaigns_tenants",
        _id(),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_campaigns_tenants_slug")),
    )
    op.create_table(
        "campaigns_tenant_keys",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_campaigns_tenant_keys_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        _tenant_fk("campaigns_tenant_keys"),
        sa.PrimaryKeyConstraint("api_key_id", name=op.f("pk_campaigns_tenant_keys")),
    )
    _tenant_index("campaigns_tenant_keys")
    op.create_table(
        "campaigns_usage",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        _tenant_fk("campaigns_usage"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_usage")),
        sa.UniqueConstraint(
            "tenant_id", "day", "metric", name=op.f("uq_campaigns_usage_tenant_id_day_metric")
        ),
    )
    op.create_table(
        "campaigns_imports",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("report", _json, nullable=False),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        _tenant_fk("campaigns_imports"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_imports")),
    )
    _tenant_index("campaigns_imports")
    op.create_table(
        "campaigns_leads",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("phone_index", sa.String(64), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("phone_last4", sa.String(4), nullable=False),
        sa.Column("line_type", sa.String(32), nullable=True),
        sa.Column("lada", sa.String(3), nullable=True),
        sa.Column("city", sa.String(120), nullable=True),
        sa.Column("state", sa.String(64), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=False),
        *(sa.Column(p, sa.Boolean(), nullable=True) for p in _PLATFORMS),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("attributes_enc", sa.Text(), nullable=True),
        sa.Column("attribute_names", _json, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _tenant_fk("campaigns_leads"),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["campaigns_imports.id"],
            name=op.f("fk_campaigns_leads_import_id_campaigns_imports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_leads")),
        sa.UniqueConstraint(
            "tenant_id", "phone_index", name=op.f("uq_campaigns_leads_tenant_id_phone_index")
        ),
    )
    _tenant_index("campaigns_leads")
    op.create_table(
        "campaigns_segments",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rules", _json, nullable=False),
        sa.Column("profile", _json, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        _ts("created_at"),
        _tenant_fk("campaigns_segments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_segments")),
    )
    _tenant_index("campaigns_segments")
    op.create_table(
        "campaigns_segment_members",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["campaigns_segments.id"],
            name=op.f("fk_campaigns_segment_members_segment_id_campaigns_segments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["campaigns_leads.id"],
            name=op.f("fk_campaigns_segment_members_lead_id_campaigns_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", "lead_id", name=op.f("pk_campaigns_segment_members")),
    )
    op.create_index(
        op.f("ix_campaigns_segment_members_lead_id"), "campaigns_segment_members", ["lead_id"]
    )
    op.create_table(
        "campaigns_campaigns",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("variables", _json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("scheduled_at", nullable=True),
        _ts("launched_at", nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("enqueued", _json, nullable=False),
        _ts("created_at"),
        _tenant_fk("campaigns_campaigns"),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["campaigns_segments.id"],
            name=op.f("fk_campaigns_campaigns_segment_id_campaigns_segments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_campaigns")),
    )
    _tenant_index("campaigns_campaigns")
    op.create_index(
        op.f("ix_campaigns_campaigns_segment_id"), "campaigns_campaigns", ["segment_id"]
    )


_PLATFORMS = ("whatsapp", "instagram", "facebook", "google", "apple")


def downgrade() -> None:
    for table in (
        "campaigns_campaigns",
        "campaigns_segment_members",
        "campaigns_segments",
        "campaigns_leads",
        "campaigns_imports",
        "campaigns_usage",
        "campaigns_tenant_keys",
        "campaigns_tenants",
    ):
        op.drop_table(table)
