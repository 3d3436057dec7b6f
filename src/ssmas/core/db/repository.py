"""Repository for API keys: the only code that queries the ``api_keys`` table."""

from __future__ import annotations

import builtins
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ssmas.core.db.base import utcnow
from ssmas.core.db.models import ApiKey


class ApiKeyRepository:
    """Add, find, list and revoke keys inside the caller's session (the caller commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key

    def get_by_prefix(self, prefix: str) -> ApiKey | None:
        return self.session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))

    def list(self, *, include_revoked: bool = True) -> builtins.list[ApiKey]:
        query = sa.select(ApiKey).order_by(ApiKey.id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        return builtins.list(self.session.scalars(query))

    def revoke(self, prefix: str, *, at: datetime | None = None) -> bool:
        """Mark the key revoked; False if no key has ``prefix``. Idempotent."""
        key = self.get_by_prefix(prefix)
        if key is None:
            return False
        if key.revoked_at is None:
            key.revoked_at = at or utcnow()
            self.session.flush()
        return True
