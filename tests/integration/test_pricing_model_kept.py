"""Serving keeps the last versions it loaded and loads announced versions ahead: a promotion, a
rollback and a new challenger switch without loading (what makes every process switch within
the event poll, issue #13). The registry and the loader are stand-ins that count loads; the
loader and the service are the real ones."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ssmas.core.bus import open_bus
from ssmas.core.registry.events import MODEL_EVENTS_TOPIC, model_changed
from ssmas.core.worker import wait_until
from ssmas.pricing.serving.hot_reload import KEEP_LOADED, ModelLoader
from ssmas.pricing.serving.service import PricingService
from ssmas.settings import PricingSettings, Settings

NAME = "pricing-cpm"


@dataclass
class Aliases:
    """The registry's aliases (all a loader asks of it)."""

    points: dict[str, str] = field(default_factory=dict)

    def get_version_by_alias(self, name: str, alias: str) -> Any:
        version = self.points.get(alias)
        return SimpleNamespace(version=version) if version else None


@dataclass
class CountingLoad:
    loads: list[str] = field(default_factory=list)

    def __call__(self, registry: Any, name: str, version: str) -> Any:
        self.loads.append(version)
        return SimpleNamespace(version=version, metrics={}, encoder=None)


def serving(service: PricingService, variant: str) -> str | None:
    slot = service.slot(variant)  # type: ignore[arg-type]
    return None if slot is None else slot.version


def test_promote_rollback_and_new_challengers_switch_without_loading(settings: Settings) -> None:
    aliases, load = Aliases({"champion": "1"}), CountingLoad()
    service = PricingService(PricingSettings())
    loader = ModelLoader(service, settings, registry=aliases, load=load)  # type: ignore[arg-type]
    loader.refresh()
    assert serving(service, "champion") == "1" and load.loads == ["1"]

    loader.prefetch(["2"])  # registered: loaded, not served
    assert serving(service, "challenger") is None and load.loads == ["1", "2"]
    aliases.points["challenger"] = "2"
    loader.refresh()
    aliases.points = {"champion": "2"}  # promote
    loader.refresh()
    aliases.points = {"champion": "1"}  # rollback
    loader.refresh()
    assert serving(service, "champion") == "1" and serving(service, "challenger") is None
    assert load.loads == ["1", "2"]  # three switches, no load

    loader.prefetch([str(v) for v in range(3, 3 + KEEP_LOADED)])  # newer versions push 1, 2 out
    aliases.points = {"champion": "2"}
    loader.refresh()
    assert serving(service, "champion") == "2" and load.loads[-1] == "2"
    service.close()


def test_a_registered_event_loads_the_version_before_its_alias_moves(settings: Settings) -> None:
    aliases, load = Aliases({"champion": "1"}), CountingLoad()
    bus = open_bus(str(settings.data_dir / "bus.db"))
    service = PricingService(PricingSettings(reload_interval_s=0))
    loader = ModelLoader(service, settings, registry=aliases, load=load)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = loader.start(stop, bus)
    try:
        assert wait_until(lambda: serving(service, "champion") == "1", 30)
        bus.publish(MODEL_EVENTS_TOPIC, model_changed("registered", NAME, 2))
        assert wait_until(lambda: "2" in load.loads, 30)
        assert serving(service, "challenger") is None
        aliases.points["challenger"] = "2"
        bus.publish(MODEL_EVENTS_TOPIC, model_changed("alias_set", NAME, 2, "challenger"))
        assert wait_until(lambda: serving(service, "challenger") == "2", 30)
        assert load.loads == ["1", "2"]
    finally:
        stop.set()
        thread.join(10)
        service.close()
        bus.close()
