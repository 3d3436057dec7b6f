"""Database adapter: engines, sessions, unit of work, migrations and the core tables.

``make_engine(url)`` → ``make_session_factory(engine)`` → ``UnitOfWork(factory)``; call
``upgrade(url)`` once at start-up to create or migrate the schema.
"""

from __future__ import annotations

from ssmas.core.db.base import NAMING_CONVENTION, Base, JsonType, UtcDateTime, utcnow
from ssmas.core.db.engine import make_engine, make_session_factory, normalize_database_url
from ssmas.core.db.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from ssmas.core.db.models import ApiKey, AuditEntry
from ssmas.core.db.repository import ApiKeyRepository
from ssmas.core.db.unit_of_work import UnitOfWork

__all__ = [
    "MIGRATIONS_DIR",
    "NAMING_CONVENTION",
    "ApiKey",
    "ApiKeyRepository",
    "AuditEntry",
    "Base",
    "JsonType",
    "UnitOfWork",
    "UtcDateTime",
    "alembic_config",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "normalize_database_url",
    "upgrade",
    "utcnow",
]
