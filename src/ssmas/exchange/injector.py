"""Applies the configuration side of fault scenarios to a control plane, and undoes it on time.

At a fault's start the injector writes the bad setting (actor ``fault-injector``); at its end it
restores the previous value only if the knob still holds the injected one, so a remediation that
already fixed it is never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ssmas.exchange.control_plane import ControlPlane
from ssmas.exchange.faults import Fault, config_change
from ssmas.exchange.knobs import ControlState
from ssmas.exchange.world import World

ACTOR = "fault-injector"


def _entries(state: ControlState, change: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Current values of the dict-knob entries a change touches (None when unset)."""
    current = state.model_dump()
    return {knob: {k: current[knob].get(k) for k in values} for knob, values in change.items()}


class FaultInjector:
    """Drives the control-plane side of ``faults``; call ``sync(now)`` as simulated time passes."""

    def __init__(
        self, world: World, plane: ControlPlane, faults: Sequence[Fault], *, sim_time: bool
    ) -> None:
        self._world = world
        self._plane = plane
        self._sim_time = sim_time
        self._pending = [f for f in faults if config_change(world, f) is not None]
        self._saved: dict[str, dict[str, dict[str, Any]]] = {}
        self._done: set[str] = set()

    def add(self, fault: Fault) -> None:
        """Drive ``fault`` too; adding one already pending or done changes nothing (the live
        exchange adds every fault it sees each minute, from a day before its start)."""
        if config_change(self._world, fault) is None or fault.fault_id in self._done:
            return
        if any(f.fault_id == fault.fault_id for f in self._pending):
            return
        self._pending.append(fault)

    def boundaries(self) -> list[datetime]:
        return sorted({t for f in self._pending for t in (f.start, f.end)})

    def sync(self, now: datetime) -> None:
        """Apply starts and ends due at or before ``now``, in time order."""
        events: list[tuple[datetime, int, Fault]] = []
        for fault in self._pending:
            if fault.fault_id not in self._saved and fault.start <= now:
                events.append((fault.start, 0, fault))
            if fault.end <= now:
                events.append((fault.end, 1, fault))
        for at, kind, fault in sorted(events, key=lambda e: (e[0], e[1], e[2].fault_id)):
            if kind == 0:
                self._start(fault, at)
            elif fault.fault_id in self._saved and fault.fault_id not in self._done:
                self._end(fault, at)

    def _start(self, fault: Fault, at: datetime) -> None:
        change = config_change(self._world, fault) or {}
        self._saved[fault.fault_id] = _entries(self._plane.current().state, change)
        self._plane.apply(
            change,
            actor=ACTOR,
            reason=f"{fault.kind} {fault.fault_id} starts",
            at=at if self._sim_time else None,
        )

    def _end(self, fault: Fault, at: datetime) -> None:
        self._done.add(fault.fault_id)
        self._pending = [f for f in self._pending if f.fault_id != fault.fault_id]
        injected = config_change(self._world, fault) or {}
        now = _entries(self._plane.current().state, injected)
        if now != injected:
            return  # someone already changed the knob: leave their fix alone
        restore = self._restore(self._saved[fault.fault_id])
        self._plane.apply(
            restore,
            actor=ACTOR,
            reason=f"{fault.kind} {fault.fault_id} ends",
            at=at if self._sim_time else None,
        )

    def _restore(self, saved: dict[str, dict[str, Any]]) -> dict[str, Any]:
        defaults: dict[str, dict[str, Any]] = {
            "floors": self._world.default_floors,
            "ad_unit_sizes": {u.ad_unit_id: u.size for u in self._world.ad_units},
        }
        return {
            knob: {k: v if v is not None else defaults[knob][k] for k, v in values.items()}
            for knob, values in saved.items()
        }
