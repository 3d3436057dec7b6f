"""Tenant isolation in the data layer: every tenant-owned query goes through a
:class:`TenantScope`, which adds ``tenant_id = <caller's tenant>`` to it.

Services take a scope, never a bare session and a tenant id to remember: a row of another
tenant is simply not found (:class:`~ssmas.campaigns.errors.NotFound`, a 404), whether its id
was guessed or copied.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session

from ssmas.campaigns.errors import NotFound

__all__ = ["TenantOwned", "TenantScope"]


class TenantOwned(Protocol):
    id: Mapped[int]
    tenant_id: Mapped[int]


T = TypeVar("T", bound=Any)


class TenantScope:
    """One tenant's view of the campaigns tables inside one session (the caller commits)."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def select(self, model: type[T], *columns: Any) -> sa.Select[Any]:
        """``SELECT`` of ``model`` (or of ``columns`` of it) restricted to this tenant."""
        chosen = columns or (model,)
        return sa.select(*chosen).where(model.tenant_id == self.tenant_id)

    def find(self, model: type[T], row_id: int) -> T | None:
        """The row ``row_id`` of ``model`` if this tenant owns it."""
        query = self.select(model).where(model.id == row_id)
        found: T | None = self.session.scalar(query)
        return found

    def get(self, model: type[T], row_id: int, what: str) -> T:
        """:meth:`find`, or :class:`NotFound` (``no such <what>``)."""
        row = self.find(model, row_id)
        if row is None:
            raise NotFound(message=f"no such {what}: {row_id}")
        return row

    def all(
        self, model: type[T], *, limit: int, after_id: int = 0, newest: bool = False
    ) -> list[T]:
        """This tenant's rows of ``model`` by id, after ``after_id``, at most ``limit``
        (``newest``: the newest ``limit`` of them, newest first)."""
        order = model.id.desc() if newest else model.id
        query = self.select(model).where(model.id > after_id).order_by(order).limit(limit)
        return list(self.session.scalars(query))

    def add(self, row: T) -> T:
        """Insert ``row`` as this tenant's (its ``tenant_id`` is set here, not by the caller)."""
        row.tenant_id = self.tenant_id
        self.session.add(row)
        self.session.flush()
        return row

    def count(self, model: type[T]) -> int:
        query = self.select(model, sa.func.count()).select_from(model)
        return int(self.session.scalar(query) or 0)
