"""Security operations: the PII key ring, and an append-only, hash-chained audit log.

``core_pii_keys`` holds the versions of the PII encryption key (key 1, derived from the
platform's secret, gets a row here; later keys are stored wrapped). ``audit_log`` gains the hash
chain (existing entries are chained in id order here) and triggers that refuse UPDATE and
DELETE on SQLite and PostgreSQL (and TRUNCATE on PostgreSQL); ``audit_chain_head`` is the row
appends lock so concurrent ones never fork the chain.

Revision ID: 0016_security_ops
Revises: 0022_agent_workspace
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ssmas.core.db.base import JsonType, UtcDateTime
from ssmas.core.security.audit import GENESIS_HASH, HEAD_ID, chain_hash

revision: str = "0016_security_ops"
down_revision: str | None = "0022_agent_workspace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE = "audit_log is append-only"


def _chain_existing() -> str:
    """Hash the entries already there, oldest first; the last hash (genesis if none)."""
    bind = op.get_bind()
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("at", UtcDateTime()),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("target", sa.String),
        sa.column("details", JsonType),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    prev = GENESIS_HASH
    rows = bind.execute(
        sa.select(
            audit.c.id, audit.c.at, audit.c.actor, audit.c.action, audit.c.target, audit.c.details
        ).order_by(audit.c.id)
    ).all()
    for row in rows:
        at = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(str(row.at))
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        digest = chain_hash(prev, at, row.actor, row.action, row.target, dict(row.details or {}))
        bind.execute(audit.update().where(audit.c.id == row.id).values(prev_hash=prev, hash=digest))
        prev = digest
    return prev


def upgrade() -> None:
    op.create_table(
        "core_pii_keys",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("deactivated_at", UtcDateTime(), nullable=True),
        sa.Column("retired_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_pii_keys")),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    last = _chain_existing()
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one()
    op.get_bind().execute(
        sa.text("INSERT INTO audit_chain_head (id, entries, last_hash) VALUES (:i, :n, :h)"),
        {"i": HEAD_ID, "n": int(count), "h": last},
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
    op.drop_table("core_pii_keys")
