"""Unit of work: one session, one transaction, rolled back unless ``commit()`` was called."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.db.engine import make_session_factory
from ssmas.core.db.repository import ApiKeyRepository


class UnitOfWork:
    """``with UnitOfWork(factory) as uow: ...; uow.commit()``.

    Leaving the block closes the session, rolling back whatever was not committed (an
    exception or a forgotten ``commit()`` both lose the work). Accepts a session factory or,
    for convenience, an engine.
    """

    session: Session

    def __init__(self, session_factory: sessionmaker[Session] | Engine) -> None:
        if isinstance(session_factory, Engine):
            session_factory = make_session_factory(session_factory)
        self._session_factory = session_factory

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.api_keys = ApiKeyRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed, and (unlike rollback()) leaves the
        # loaded objects readable after the block, detached.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
