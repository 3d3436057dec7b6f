"""Keeping the served models in step with the registry's ``champion`` / ``challenger`` aliases.

:class:`ModelLoader` loads each alias's version once and installs it in the
:class:`~ssmas.pricing.serving.service.PricingService`; a version already serving is never reloaded.
Its thread refreshes on every model event published on ``pricing.models`` (promotions and
rollbacks from the API, the CLI or the retraining workflow, through
:func:`publish_model_event`) and, as a safety net, every ``reload_interval_s``. Each process
reads the topic with its own consumer group, so every server worker sees every event. Until
a registry exists (no MLflow database yet), nothing is loaded and the service answers with its
fallback.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from ssmas.core.bus.base import Bus, BusError
from ssmas.core.registry import ModelRegistry
from ssmas.pricing.serving.service import PricingService, Scorer
from ssmas.pricing.variants import Variant
from ssmas.settings import Settings

MODEL_EVENTS_TOPIC = "pricing.models"
MODEL_PROMOTED = "ModelPromoted"
MODEL_ROLLED_BACK = "ModelRolledBack"
CHALLENGER_CHANGED = "ChallengerChanged"
VARIANTS: tuple[Variant, ...] = ("champion", "challenger")

_log = structlog.get_logger(__name__)
ModelLoadFn = Callable[[ModelRegistry, str, str], Scorer]


def publish_model_event(
    bus: Bus, event: str, *, model: str, version: int | str | None, actor: str
) -> str:
    """Tell every serving process that ``model``'s aliases changed; returns the message id."""
    payload: dict[str, Any] = {
        "event": event,
        "model": model,
        "version": None if version is None else str(version),
        "actor": actor,
        "at": datetime.now(UTC).isoformat(),
    }
    return bus.publish(MODEL_EVENTS_TOPIC, payload)


def registry_exists(settings: Settings) -> bool:
    """Whether a registry may hold models: a tracking URI is configured or the default exists."""
    return bool(settings.mlflow_tracking_uri) or (settings.data_dir / "mlflow.db").exists()


def load_pricing_model(registry: ModelRegistry, name: str, version: str) -> Scorer:
    """The default loader: the registered bundle, scoring on one thread per call."""
    from ssmas.pricing.model.bundle import load_from_registry

    model = load_from_registry(registry, version, name=name)
    model.set_threads(1)
    return model


class ModelLoader:
    """Installs the registry's champion and challenger into a service, and keeps them current."""

    def __init__(
        self,
        service: PricingService,
        settings: Settings,
        *,
        registry: ModelRegistry | None = None,
        load: ModelLoadFn = load_pricing_model,
    ) -> None:
        self.service = service
        self.settings = settings
        self.name = service.config.registry_model
        self._registry = registry
        self._load = load
        self._refresh_lock = threading.Lock()
        self.loaded = threading.Event()
        self.last_error: str | None = None

    @property
    def registry(self) -> ModelRegistry | None:
        """The registry, or None while none exists (nothing registered yet)."""
        if self._registry is None and registry_exists(self.settings):
            from ssmas.core.registry import registry_from_settings

            self._registry = registry_from_settings(self.settings)
        return self._registry

    def refresh(self) -> dict[Variant, str | None]:
        """Load whatever the aliases point at now; returns the version serving each variant."""
        with self._refresh_lock:
            try:
                registry = self.registry
                if registry is not None:
                    for variant in VARIANTS:
                        self._refresh_variant(registry, variant)
                self.last_error = None
            except Exception as exc:  # a reload failure must not stop serving
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                _log.warning("pricing_model_reload_failed", error=self.last_error)
            finally:
                self.loaded.set()
        return {v: (s.version if (s := self.service.slot(v)) else None) for v in VARIANTS}

    def _refresh_variant(self, registry: ModelRegistry, variant: Variant) -> None:
        info = registry.get_version_by_alias(self.name, variant)
        current = self.service.slot(variant)
        if info is None:
            if current is not None:
                self.service.install(variant, None)
                _log.info("pricing_model_unloaded", variant=variant, version=current.version)
            return
        version = str(info.version)
        if current is not None and current.version == version:
            return
        started = time.perf_counter()
        self.service.install(variant, self._load(registry, self.name, version))
        _log.info(
            "pricing_model_loaded",
            variant=variant,
            version=version,
            seconds=round(time.perf_counter() - started, 3),
        )

    def run(self, stop: threading.Event, bus: Bus | None) -> None:
        """Refresh now, then on model events and every ``reload_interval_s`` until ``stop``."""
        self.refresh()
        group = f"pricing-serving-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        interval = self.service.config.reload_interval_s
        next_poll = time.monotonic() + interval
        while not stop.wait(1.0):
            event = bus is not None and self._events(bus, group)
            if event or (interval > 0 and time.monotonic() >= next_poll):
                self.refresh()
                next_poll = time.monotonic() + interval

    def _events(self, bus: Bus, group: str) -> bool:
        try:
            got = bus.consume(MODEL_EVENTS_TOPIC, group, group, max_messages=100)
            if got:
                bus.ack(got)
            return any(d.message.payload.get("model") == self.name for d in got)
        except BusError as exc:
            _log.warning("pricing_model_events_failed", error=str(exc)[:300])
            return False

    def start(self, stop: threading.Event, bus: Bus | None) -> threading.Thread:
        """Run :meth:`run` on a daemon thread."""
        thread = threading.Thread(
            target=self.run, args=(stop, bus), name="ssmas-pricing-models", daemon=True
        )
        thread.start()
        return thread
