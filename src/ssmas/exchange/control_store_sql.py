"""SQL adapters of the control plane and of the live fault schedule (SQLite or PostgreSQL).

Versions are rows numbered 1, 2, ...; version 0 (world defaults) is implicit. Two writers racing
for the same number are serialised by the primary key: the loser retries on the new latest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.db import make_engine, make_session_factory, upgrade, utcnow
from ssmas.exchange.control_plane import ControlVersion, check_change, initial_version
from ssmas.exchange.faults import Fault
from ssmas.exchange.knobs import ControlPlaneError, ControlState, apply_change
from ssmas.exchange.tables import ControlVersionRow, FaultRow
from ssmas.exchange.world import World

RETRIES = 5


def _version(row: ControlVersionRow) -> ControlVersion:
    return ControlVersion(
        version=row.version,
        state=ControlState.model_validate(row.state),
        change=dict(row.change),
        actor=row.actor,
        reason=row.reason,
        created_at=row.created_at,
    )


class SqlControlPlane:
    """The control plane in the platform database, shared by simulator and agents."""

    def __init__(self, sessions: sessionmaker[Session], world: World | None = None) -> None:
        self._sessions = sessions
        self._world = world

    def _latest(self, session: Session, at: datetime | None = None) -> ControlVersion:
        query = sa.select(ControlVersionRow).order_by(ControlVersionRow.version.desc()).limit(1)
        if at is not None:
            query = query.where(ControlVersionRow.created_at <= at)
        row = session.scalars(query).first()
        return _version(row) if row is not None else initial_version()

    def current(self) -> ControlVersion:
        with self._sessions() as session:
            return self._latest(session)

    def as_of(self, at: datetime) -> ControlVersion:
        with self._sessions() as session:
            return self._latest(session, at)

    def _record(
        self,
        make_state: Any,
        change: dict[str, Any],
        *,
        actor: str,
        reason: str,
        at: datetime | None,
    ) -> ControlVersion:
        for _ in range(RETRIES):
            with self._sessions() as session:
                latest = self._latest(session)
                state: ControlState = make_state(latest.state)
                row = ControlVersionRow(
                    version=latest.version + 1,
                    created_at=at or utcnow(),
                    actor=actor,
                    reason=reason,
                    change=change,
                    state=state.model_dump(mode="json"),
                )
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return _version(row)
        raise ControlPlaneError("control plane busy: too many concurrent writers")

    def apply(
        self, change: dict[str, Any], *, actor: str, reason: str, at: datetime | None = None
    ) -> ControlVersion:
        check_change(self._world, change, actor)
        return self._record(
            lambda state: apply_change(state, change),
            change,
            actor=actor,
            reason=reason,
            at=at,
        )

    def history(self, limit: int = 50) -> list[ControlVersion]:
        with self._sessions() as session:
            rows = session.scalars(
                sa.select(ControlVersionRow).order_by(ControlVersionRow.version.desc()).limit(limit)
            ).all()
            versions = [_version(r) for r in rows]
        if len(versions) < limit:
            versions.append(initial_version())
        return versions

    def rollback(self, version: int, *, actor: str, reason: str) -> ControlVersion:
        check_change(None, {}, actor)
        if version == 0:
            target = initial_version().state
        else:
            with self._sessions() as session:
                row = session.get(ControlVersionRow, version)
                if row is None:
                    raise ControlPlaneError(f"no control-plane version {version}")
                target = ControlState.model_validate(row.state)
        return self._record(
            lambda _state: target, {"rollback_to": version}, actor=actor, reason=reason, at=None
        )


class SqlFaultStore:
    """Faults injected into the live simulator; the simulator polls the active ones."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, fault: Fault, *, created_by: str) -> None:
        with self._sessions() as session:
            session.merge(
                FaultRow(
                    fault_id=fault.fault_id,
                    kind=fault.kind,
                    entity=fault.entity,
                    start=fault.start,
                    end=fault.end,
                    severity=fault.severity,
                    created_by=created_by,
                )
            )
            session.commit()

    def overlapping(self, start: datetime, end: datetime) -> list[Fault]:
        """Faults whose window intersects ``[start, end)``."""
        with self._sessions() as session:
            rows = session.scalars(
                sa.select(FaultRow)
                .where(FaultRow.start < end, FaultRow.end > start)
                .order_by(FaultRow.start, FaultRow.fault_id)
            ).all()
            return [_fault(r) for r in rows]

    def all(self) -> Sequence[Fault]:
        with self._sessions() as session:
            rows = session.scalars(sa.select(FaultRow).order_by(FaultRow.start)).all()
            return [_fault(r) for r in rows]


def _fault(row: FaultRow) -> Fault:
    return Fault(
        fault_id=row.fault_id,
        kind=row.kind,  # type: ignore[arg-type]
        entity=row.entity,
        start=row.start,
        end=row.end,
        severity=row.severity,
    )


def open_sql_stores(
    database_url: str, world: World | None = None, *, migrate: bool = True
) -> tuple[SqlControlPlane, SqlFaultStore]:
    """Control plane and fault store on ``database_url`` (migrated to the latest schema)."""
    if migrate:
        upgrade(database_url, "heads")
    sessions = make_session_factory(make_engine(database_url))
    return SqlControlPlane(sessions, world), SqlFaultStore(sessions)
