"""Keeping the served models in step with the registry's ``champion`` / ``challenger`` aliases.

:class:`ModelLoader` loads each alias's version once and installs it in the
:class:`~ssmas.pricing.serving.service.PricingService`; a version already serving is never reloaded.
Its thread tails two topics and refreshes on any event about its model: ``registry.models``,
where the registry itself announces every change (a trained version registered, an alias set,
a promotion, a rollback: ``ssmas.core.registry.events``), and ``pricing.models``, where the API,
the CLI and the retraining workflow say who promoted or rolled back
(:func:`publish_model_event`). Tailing is ``Bus.replay`` from the last offset seen, every
``EVENT_POLL_S``: no consumer group per process, so nothing is left behind when a process
exits, and every process switches within about ``EVENT_POLL_S`` plus the model's load time. As
a safety net it also refreshes every ``reload_interval_s``. Until a registry exists (no MLflow
database yet), nothing is loaded and the service answers with its fallback.

The last :data:`KEEP_LOADED` versions loaded stay in memory, and a version the registry
announces as newly registered is loaded as soon as the event arrives, before any alias points
at it: a promotion (the challenger becomes champion), a rollback (the previous champion comes
back) and a new challenger then switch without loading anything, so every process switches
within about ``EVENT_POLL_S``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog

from ssmas.core.bus.base import Bus
from ssmas.core.bus.tail import EventTail
from ssmas.core.registry import ModelRegistry, registry_exists
from ssmas.core.registry.events import MODEL_EVENTS_TOPIC as REGISTRY_EVENTS_TOPIC
from ssmas.pricing.serving.service import PricingService, Scorer
from ssmas.pricing.variants import Variant
from ssmas.settings import Settings

MODEL_EVENTS_TOPIC = "pricing.models"
MODEL_PROMOTED = "ModelPromoted"
MODEL_ROLLED_BACK = "ModelRolledBack"
CHALLENGER_CHANGED = "ChallengerChanged"
VARIANTS: tuple[Variant, ...] = ("champion", "challenger")
EVENT_TOPICS = (REGISTRY_EVENTS_TOPIC, MODEL_EVENTS_TOPIC)
EVENT_POLL_S = 0.1
KEEP_LOADED = 4
LEGACY_GROUP_PREFIXES = ("pricing-serving-",)  # one group per process, before EventTail

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
        self._kept: OrderedDict[str, Scorer] = OrderedDict()  # version → loaded, newest last
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
        self.service.install(variant, self._scorer(registry, version))
        _log.info(
            "pricing_model_loaded",
            variant=variant,
            version=version,
            seconds=round(time.perf_counter() - started, 3),
        )

    def _scorer(self, registry: ModelRegistry, version: str) -> Scorer:
        """Version ``version``, loaded once and kept among the last :data:`KEEP_LOADED`."""
        scorer = self._kept.pop(version, None)
        if scorer is None:
            scorer = self._load(registry, self.name, version)
        self._kept[version] = scorer
        while len(self._kept) > KEEP_LOADED:
            self._kept.popitem(last=False)
        return scorer

    def prefetch(self, versions: Iterable[str]) -> None:
        """Load newly registered ``versions`` ahead of any alias change (failures: logged)."""
        with self._refresh_lock:
            registry = self.registry
            for version in versions:
                if registry is None or version in self._kept:
                    continue
                try:
                    self._scorer(registry, version)
                except Exception as exc:  # the alias change will try again
                    _log.warning("pricing_model_prefetch_failed", version=version, error=str(exc))
                else:
                    _log.info("pricing_model_prefetched", version=version)

    def run(self, stop: threading.Event, bus: Bus | None) -> None:
        """Refresh now, then on model events and every ``reload_interval_s`` until ``stop``."""
        tail = EventTail(bus, EVENT_TOPICS) if bus is not None else None
        if self._load is load_pricing_model and (
            self.service.config.require_model or registry_exists(self.settings)
        ):
            # The model code imports XGBoost (seconds): pay that now, not when a model event
            # arrives, so every process switches at once.
            import ssmas.pricing.model.bundle  # noqa: F401
        self.refresh()
        interval = self.service.config.reload_interval_s
        next_poll = time.monotonic() + interval
        while not stop.wait(EVENT_POLL_S if tail is not None else 1.0):
            events = [p for p in tail.poll() if p.get("model") == self.name] if tail else []
            fresh = [str(p["version"]) for p in events if p.get("change") == "registered"]
            if fresh:  # a new version moves no alias: load it before one points at it
                self.prefetch(fresh)
            moved = any(p.get("change") != "registered" for p in events)
            if moved or (interval > 0 and time.monotonic() >= next_poll):
                self.refresh()
                next_poll = time.monotonic() + interval

    def start(self, stop: threading.Event, bus: Bus | None) -> threading.Thread:
        """Run :meth:`run` on a daemon thread."""
        thread = threading.Thread(
            target=self.run, args=(stop, bus), name="ssmas-pricing-models", daemon=True
        )
        thread.start()
        return thread
