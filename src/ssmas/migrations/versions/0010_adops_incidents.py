"""AdOps incidents: incidents, alerts, alert keys, timeline, silences and maintenance windows,
notifications sent, and the stream job's checkpoint.

Revision ID: 0010_adops_incidents
Revises: 0011_campaigns
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_adops_incidents"
down_revision: str | None = "0011_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "adops_alert_keys",
        sa.Column("alert_key", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert_key", name=op.f("pk_adops_alert_keys")),
    )
    op.create_index(
        op.f("ix_adops_alert_keys_received_at"), "adops_alert_keys", ["received_at"], unique=False
    )
    op.create_table(
        "adops_incidents",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("correlation_key", sa.String(length=300), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("problem_type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("human_touched", sa.Boolean(), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("entities", _json, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_adops_incidents")),
    )
    op.create_index(
        op.f("ix_adops_incidents_correlation_key"),
        "adops_incidents",
        ["correlation_key"],
        unique=False,
    )
    op.create_index(
        op.f("ix_adops_incidents_opened_at"), "adops_incidents", ["opened_at"], unique=False
    )
    op.create_index(
        op.f("ix_adops_incidents_severity"), "adops_incidents", ["severity"], unique=False
    )
    op.create_index(op.f("ix_adops_incidents_state"), "adops_incidents", ["state"], unique=False)
    op.create_table(
        "adops_notifications",
        sa.Column("dedup_key", sa.String(length=120), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("dedup_key", name=op.f("pk_adops_notifications")),
    )
    op.create_index(
        op.f("ix_adops_notifications_incident_id"),
        "adops_notifications",
        ["incident_id"],
        unique=False,
    )
    op.create_table(
        "adops_silences",
        sa.Column("silence_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("matchers", _json, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("silence_id", name=op.f("pk_adops_silences")),
    )
    op.create_index(op.f("ix_adops_silences_ends_at"), "adops_silences", ["ends_at"], unique=False)
    op.create_index(
        op.f("ix_adops_silences_starts_at"), "adops_silences", ["starts_at"], unique=False
    )
    op.create_table(
        "adops_stream_checkpoints",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("offsets", _json, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_adops_stream_checkpoints")),
    )
    op.create_table(
        "adops_alerts",
        sa.Column("alert_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=True),
        sa.Column("silence_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("problem_type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("metrics", _json, nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["adops_incidents.incident_id"],
            name=op.f("fk_adops_alerts_incident_id_adops_incidents"),
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_adops_alerts")),
    )
    op.create_index(
        op.f("ix_adops_alerts_fingerprint"), "adops_alerts", ["fingerprint"], unique=False
    )
    op.create_index(
        op.f("ix_adops_alerts_incident_id"), "adops_alerts", ["incident_id"], unique=False
    )
    op.create_table(
        "adops_incident_timeline",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", _json, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["adops_incidents.incident_id"],
            name=op.f("fk_adops_incident_timeline_incident_id_adops_incidents"),
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_adops_incident_timeline")),
    )
    op.create_index(
        op.f("ix_adops_incident_timeline_incident_id"),
        "adops_incident_timeline",
        ["incident_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_adops_incident_timeline_incident_id"), table_name="adops_incident_timeline"
    )
    op.drop_table("adops_incident_timeline")
    op.drop_index(op.f("ix_adops_alerts_incident_id"), table_name="adops_alerts")
    op.drop_index(op.f("ix_adops_alerts_fingerprint"), table_name="adops_alerts")
    op.drop_table("adops_alerts")
    op.drop_table("adops_stream_checkpoints")
    op.drop_index(op.f("ix_adops_silences_starts_at"), table_name="adops_silences")
    op.drop_index(op.f("ix_adops_silences_ends_at"), table_name="adops_silences")
    op.drop_table("adops_silences")
    op.drop_index(op.f("ix_adops_notifications_incident_id"), table_name="adops_notifications")
    op.drop_table("adops_notifications")
    op.drop_index(op.f("ix_adops_incidents_state"), table_name="adops_incidents")
    op.drop_index(op.f("ix_adops_incidents_severity"), table_name="adops_incidents")
    op.drop_index(op.f("ix_adops_incidents_opened_at"), table_name="adops_incidents")
    op.drop_index(op.f("ix_adops_incidents_correlation_key"), table_name="adops_incidents")
    op.drop_table("adops_incidents")
    op.drop_index(op.f("ix_adops_alert_keys_received_at"), table_name="adops_alert_keys")
    op.drop_table("adops_alert_keys")
