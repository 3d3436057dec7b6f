"""Pricing's hand on the ad units' own floors on the exchange (the floor an auction clears
against when no dynamic floor replaces it): read one, set one, list the versions that moved it.

Floors are pricing's to set, whoever asks: the AdOps agents' ``floor_rollback`` (and its undo)
calls :meth:`UnitFloors.set_floor` in process, or ``PUT /v2/ad-units/{id}/floor`` when it is
pointed at a pricing server. The exchange's control plane is where the floor takes effect, and its
versions are the floors' history: every change is one control-plane version under the caller's
name, with pricing's reason, and (given a database) an entry ``pricing.unit_floor`` in the audit
log. :func:`unit_floors` is the platform's service over its database control plane.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ssmas.core.security.audit import record_audit
from ssmas.exchange import ControlPlane, ControlPlaneError, World, build_world

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ssmas.core.platform import Platform

__all__ = ["MAX_UNIT_FLOOR", "UnitFloorChange", "UnitFloorError", "UnitFloors", "unit_floors"]

MAX_UNIT_FLOOR = 1000.0  # EUR CPM: past any real bid, so a floor above it is a typing error
LIVE_WORLD_SEED = 42  # the world the platform's live exchange runs (``run_live``'s default)
RUNTIME = "pricing.unit_floors"  # the name the platform's service is attached under


class UnitFloorError(ValueError):
    """An ad unit that does not exist, or a floor that is not a price."""


class UnknownAdUnit(UnitFloorError):
    """No ad unit of that id on the exchange."""


@dataclass(frozen=True)
class UnitFloorChange:
    """One floor set: the ad unit, its floor before and now, and the control-plane version."""

    ad_unit_id: str
    previous: float
    floor: float
    version: int
    actor: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class UnitFloors:
    """The ad units' own floors of ``world`` on ``plane`` (audited in ``audit`` when given)."""

    def __init__(self, world: World, plane: ControlPlane, *, audit: Engine | None = None) -> None:
        self.world = world
        self.plane = plane
        self.audit = audit
        self._defaults = world.default_floors

    def _check(self, ad_unit_id: str) -> None:
        if ad_unit_id not in self._defaults:
            raise UnknownAdUnit(f"unknown ad unit {ad_unit_id!r}")

    def floor(self, ad_unit_id: str) -> dict[str, Any]:
        """The ad unit's floor in force and its own default (EUR CPM)."""
        self._check(ad_unit_id)
        current = self.plane.current()
        return {
            "ad_unit_id": ad_unit_id,
            "floor": current.state.floors.get(ad_unit_id, self._defaults[ad_unit_id]),
            "default_floor": self._defaults[ad_unit_id],
            "version": current.version,
        }

    def set_floor(
        self, ad_unit_id: str, floor_eur: float, *, actor: str, reason: str
    ) -> UnitFloorChange:
        """Set the ad unit's floor as ``actor``: a new control-plane version, audited."""
        self._check(ad_unit_id)
        if not (math.isfinite(floor_eur) and 0.0 <= floor_eur <= MAX_UNIT_FLOOR):
            raise UnitFloorError(f"a floor is a price from 0 to {MAX_UNIT_FLOOR:g} EUR CPM")
        if not actor.strip():
            raise UnitFloorError("a floor change must name who asked for it")
        value = round(float(floor_eur), 4)
        previous = self.floor(ad_unit_id)["floor"]
        try:
            version = self.plane.apply(
                {"floors": {ad_unit_id: value}},
                actor=actor,
                reason=f"pricing unit floor: {reason}"[:500],
            )
        except ControlPlaneError as exc:
            raise UnitFloorError(str(exc)) from None
        change = UnitFloorChange(ad_unit_id, previous, value, version.version, actor)
        if self.audit is not None:
            with Session(self.audit) as session, session.begin():
                record_audit(
                    session,
                    actor=actor,
                    action="pricing.unit_floor",
                    target=ad_unit_id,
                    details={**change.as_dict(), "reason": reason[:500]},
                )
        return change

    def history(self, ad_unit_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The control-plane versions that set this ad unit's floor, newest first."""
        self._check(ad_unit_id)
        return [
            {
                "version": v.version,
                "floor": v.change["floors"][ad_unit_id],
                "actor": v.actor,
                "reason": v.reason,
                "at": v.created_at,
            }
            for v in self.plane.history(500)
            if ad_unit_id in v.change.get("floors", {})
        ][:limit]


def unit_floors(platform: Platform) -> UnitFloors:
    """The platform's service: the live world's ad units on the database control plane."""

    def build(p: Platform) -> UnitFloors:
        from ssmas.exchange import open_stores

        world = build_world(LIVE_WORLD_SEED)
        plane, _ = open_stores(p.settings, world)
        return UnitFloors(world, plane, audit=p.engine)

    return platform.runtime_or_build(RUNTIME, UnitFloors, build)
