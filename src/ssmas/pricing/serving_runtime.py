"""The serving side of one process, built at app start by the router module's ``setup`` hook.

``setup(platform)`` builds a :class:`ServingRuntime` (scorer service, capture writer, publisher
floor configs, monitor, pruner, model loader), starts its threads (model loading and hot reload,
capture writes, periodic drift, retention), registers the ``pricing_models`` readiness check
when there is a registry to load from (ready once the first load finished) and returns the
teardown. Routes reach it with :func:`runtime_of` (hot path, no dependency resolution) or
``RuntimeDep``.
Configuration is ``platform.settings.pricing`` (``SSMAS_PRICING_*``).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from ssmas.bootstrap import Platform
from ssmas.core.api import ApiError
from ssmas.pricing.capture import CaptureWriter
from ssmas.pricing.floor_serving import FloorConfigs
from ssmas.pricing.hot_reload import ModelLoader, registry_exists
from ssmas.pricing.monitor import Monitor, Pruner
from ssmas.pricing.serving import PricingService
from ssmas.settings import PricingSettings

_runtimes: dict[int, ServingRuntime] = {}


@dataclass
class ServingRuntime:
    """Everything the pricing routes use, and the threads that keep it current."""

    platform: Platform
    config: PricingSettings
    service: PricingService
    writer: CaptureWriter
    floors: FloorConfigs
    monitor: Monitor
    pruner: Pruner
    loader: ModelLoader
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start capture writes, model loading / hot reload, the periodic drift check and the
        retention pruner (a thread of its own: a long purge never delays a drift run)."""
        self.service.on_install = freeze_new_objects
        self.writer.start()
        if self.config.load_models:
            self.threads.append(self.loader.start(self.stop, self.platform.bus))
        else:
            self.loader.loaded.set()
        self.threads.append(
            self.monitor.start(self.stop, self.config.drift_interval_s, self.config.drift_window_s)
        )
        self.threads.append(self.pruner.start(self.stop, self.config.prune_interval_s))

    def check_models(self) -> None:
        """Readiness: the first model load has finished (serving a model or the fallback)."""
        if not self.loader.loaded.is_set():
            raise RuntimeError("pricing models are still loading")

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(5.0)
        self.writer.close()
        self.service.close()


def freeze_new_objects() -> bool:
    """In a process that froze its heap (``create_app(..., freeze_gc=True)``: servers), freeze
    what a model install added too; returns whether it did.

    Models load on the loader thread, usually after the app's start-up freeze: left alone, the
    booster, schema and MLflow's objects would be walked by every full collection, a pause of
    the event loop in the middle of requests. The collection before the freeze only walks
    objects not frozen yet. A process that does not freeze (tests) is left alone.
    """
    if gc.get_freeze_count() == 0:
        return False
    gc.collect()
    gc.freeze()
    return True


def build_runtime(platform: Platform, config: PricingSettings | None = None) -> ServingRuntime:
    """Wire the serving side on ``platform`` (nothing is started)."""
    config = config or platform.settings.pricing
    writer = CaptureWriter(platform.engine)
    service = PricingService(config, writer=writer)
    return ServingRuntime(
        platform=platform,
        config=config,
        service=service,
        writer=writer,
        floors=FloorConfigs(platform.engine),
        monitor=Monitor(platform.engine, service),
        pruner=Pruner(platform.engine, config),
        loader=ModelLoader(service, platform.settings),
    )


def setup(platform: Platform) -> Callable[[], None]:
    """App start: build and start the runtime, add the readiness check; returns the teardown."""
    runtime = build_runtime(platform)
    runtime.start()
    key = id(platform)
    _runtimes[key] = runtime
    if runtime.config.load_models and registry_exists(platform.settings):
        platform.checks["pricing_models"] = runtime.check_models

    def teardown() -> None:
        _runtimes.pop(key, None)
        runtime.close()

    return teardown


def runtime_for(platform: Platform) -> ServingRuntime | None:
    """The runtime started for ``platform`` (tests install models through it)."""
    return _runtimes.get(id(platform))


def runtime_of(request: Request) -> ServingRuntime:
    """The running app's serving runtime; 503 when this app did not start one."""
    runtime = _runtimes.get(id(request.app.state.platform))
    if runtime is None:
        raise ApiError(503, "unavailable", "pricing serving is not started in this process")
    return runtime


async def get_runtime(request: Request) -> ServingRuntime:
    """Dependency form of :func:`runtime_of` (async: no thread hop per request)."""
    return runtime_of(request)


RuntimeDep = Annotated[ServingRuntime, Depends(get_runtime)]
