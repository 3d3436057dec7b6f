"""Public services of the exchange for other products and entrypoints (CLI, demo, AdOps tools).

All state lives behind the settings: the control plane and the injected faults in the platform
database, the live fault labels under ``<data_dir>/exchange/labels``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ssmas.exchange.control_plane import ControlVersion
from ssmas.exchange.control_store_sql import SqlControlPlane, SqlFaultStore, open_sql_stores
from ssmas.exchange.faults import Fault, make_fault
from ssmas.exchange.labels import write_fault_labels
from ssmas.exchange.live import LiveClock
from ssmas.exchange.world import World, build_world
from ssmas.settings import Settings

_VOLUME = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmMbB]?)\s*$")
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def parse_volume(text: str) -> float:
    """``"50M"`` → 5e7, ``"2.5k"`` → 2500; refuses negative, zero and malformed volumes."""
    match = _VOLUME.match(text)
    if match is None:
        raise ValueError(f"bad volume {text!r}: use a positive number like 50M, 2.5k or 100000")
    value = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    if value <= 0:
        raise ValueError(f"volume must be positive, got {text!r}")
    return value


def exchange_dir(settings: Settings) -> Path:
    return settings.data_dir / "exchange"


def open_stores(
    settings: Settings, world: World | None = None
) -> tuple[SqlControlPlane, SqlFaultStore]:
    """The platform's control plane and fault store (schema migrated on first use)."""
    return open_sql_stores(settings.resolved_database_url, world)


def change_control(
    settings: Settings, change: dict[str, Any], *, actor: str, reason: str, seed: int = 42
) -> ControlVersion:
    """Apply a knob change as ``actor``; entities are checked against the world of ``seed``."""
    plane, _ = open_stores(settings, build_world(seed))
    return plane.apply(change, actor=actor, reason=reason)


def inject_fault(
    settings: Settings,
    kind: str,
    *,
    entity: str | None = None,
    start: datetime | None = None,
    minutes: float = 30.0,
    severity: float = 1.0,
    actor: str = "cli",
    seed: int = 42,
) -> Fault:
    """Schedule a fault for the live simulator and record its label.

    Without ``start`` the fault begins at the live simulator's next minute (or now, when no
    live simulator has run with these settings).
    """
    world = build_world(seed)
    at = start or LiveClock(settings.data_dir).next_minute() or datetime.now(UTC)
    fault = make_fault(world, kind, start=at, minutes=minutes, entity=entity, severity=severity)
    _, store = open_stores(settings, world)
    store.add(fault, created_by=actor)
    write_fault_labels(exchange_dir(settings), store.all())
    return fault
