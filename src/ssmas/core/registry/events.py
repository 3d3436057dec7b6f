"""Registry changes announced on the bus: every process serving a model hears of them at once.

Each change a :class:`~ssmas.core.registry.ModelRegistry` makes (a new version, an alias set or
removed, a promotion, a rollback) is published on ``registry.models`` as a ``ModelChanged``
payload: ``{"event": "ModelChanged", "change": ..., "model": ..., "alias": ...,
"version": ..., "at": ...}``. Serving processes tail that topic (``Bus.replay``, no consumer
group to leave behind) and reload within their poll step; the registry stays the truth, the
event only says "look now". A bus failure is logged and never fails the registry change.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import structlog

from ssmas.settings import Settings

MODEL_EVENTS_TOPIC = "registry.models"
MODEL_CHANGED = "ModelChanged"

_log = structlog.get_logger(__name__)


def model_changed(
    change: str, model: str, version: int | str | None, alias: str | None = None
) -> dict[str, Any]:
    """The payload of one registry change."""
    return {
        "event": MODEL_CHANGED,
        "change": change,
        "model": model,
        "alias": alias,
        "version": None if version is None else str(version),
        "at": datetime.now(UTC).isoformat(),
    }


class RegistryAnnouncer:
    """Publishes registry changes on the bus of ``settings`` (opened on the first change), or
    on ``bus`` when given (then the caller owns it)."""

    def __init__(self, settings: Settings | None = None, bus: Any = None) -> None:
        self.settings = settings
        self._bus = bus
        self._owned = False
        self._lock = threading.Lock()

    def __call__(self, payload: dict[str, Any]) -> None:
        try:
            with self._lock:
                if self._bus is None and self.settings is not None:
                    from ssmas.core.bus import bus_from_settings

                    self._bus = bus_from_settings(self.settings)
                    self._owned = True
                bus = self._bus
            if bus is not None:
                bus.publish(MODEL_EVENTS_TOPIC, payload)
        except Exception as exc:  # servers still poll the registry: a lost event only delays
            _log.warning("registry_event_not_published", error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        with self._lock:
            if self._owned and self._bus is not None:
                self._bus.close()
            self._bus = None
            self._owned = False
