"""The versioned control plane: every change is a new version recording who, why and when.

``ControlPlane`` is the port; ``MemoryControlPlane`` serves batch runs and single processes, and
``SqlControlPlane`` (``control_store_sql.py``) shares the knobs between the live simulator and
the agents that remediate. The simulator reads ``current()`` once per simulated minute.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from ssmas.exchange import catalog
from ssmas.exchange.knobs import ControlPlaneError, ControlState, apply_change, validate_entities
from ssmas.exchange.world import World

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ControlVersion(BaseModel):
    """One immutable version of the knobs and the change that produced it."""

    model_config = ConfigDict(frozen=True)

    version: int
    state: ControlState
    change: dict[str, Any]
    actor: str
    reason: str
    created_at: datetime


def initial_version() -> ControlVersion:
    return ControlVersion(
        version=0,
        state=ControlState(),
        change={},
        actor="system",
        reason="world defaults",
        created_at=EPOCH,
    )


class ControlPlane(Protocol):
    """Versioned knob store: read the latest or an earlier version, append a change, roll back."""

    def current(self) -> ControlVersion: ...

    def as_of(self, at: datetime) -> ControlVersion: ...

    def apply(
        self, change: dict[str, Any], *, actor: str, reason: str, at: datetime | None = None
    ) -> ControlVersion: ...

    def history(self, limit: int = 50) -> list[ControlVersion]: ...

    def rollback(self, version: int, *, actor: str, reason: str) -> ControlVersion: ...


def check_change(world: World | None, change: dict[str, Any], actor: str) -> None:
    """Shared validation: an actor is named and, when a world is known, the entities exist."""
    if not actor.strip():
        raise ControlPlaneError("every control-plane change must name its actor")
    if world is not None:
        validate_entities(
            change,
            partners=set(world.partner_names()),
            ad_units=set(world.ad_unit_index()),
            sources=set(catalog.TRAFFIC_SOURCES),
        )


class MemoryControlPlane:
    """In-process control plane; versions are kept in order of their ``created_at``."""

    def __init__(self, world: World | None = None) -> None:
        self._world = world
        self._versions: list[ControlVersion] = [initial_version()]

    def current(self) -> ControlVersion:
        return self._versions[-1]

    def as_of(self, at: datetime) -> ControlVersion:
        found = self._versions[0]
        for version in self._versions:
            if version.created_at <= at:
                found = version
        return found

    def apply(
        self, change: dict[str, Any], *, actor: str, reason: str, at: datetime | None = None
    ) -> ControlVersion:
        check_change(self._world, change, actor)
        when = at or datetime.now(UTC)
        if self._versions[-1].created_at > when:
            raise ControlPlaneError("changes must be recorded in time order")
        state = apply_change(self.current().state, change)
        return self._record(state, change, actor=actor, reason=reason, at=when)

    def _record(
        self, state: ControlState, change: dict[str, Any], *, actor: str, reason: str, at: datetime
    ) -> ControlVersion:
        version = ControlVersion(
            version=len(self._versions),
            state=state,
            change=change,
            actor=actor,
            reason=reason,
            created_at=at,
        )
        self._versions.append(version)
        return version

    def history(self, limit: int = 50) -> list[ControlVersion]:
        return list(reversed(self._versions[-limit:]))

    def rollback(self, version: int, *, actor: str, reason: str) -> ControlVersion:
        if not 0 <= version < len(self._versions):
            raise ControlPlaneError(f"no control-plane version {version}")
        check_change(None, {}, actor)
        target = self._versions[version].state
        return self._record(
            target, {"rollback_to": version}, actor=actor, reason=reason, at=datetime.now(UTC)
        )

    def versions(self) -> list[ControlVersion]:
        """All versions, oldest first (used to hand a batch timeline to worker processes)."""
        return list(self._versions)
