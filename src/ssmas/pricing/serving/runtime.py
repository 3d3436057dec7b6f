"""The serving side of one process, built at app start by the router module's ``setup`` hook.

``setup(platform)`` builds a :class:`ServingRuntime` (scorer service, capture writer, publisher
floor configs, monitor, pruner, model loader), starts its threads (model loading and hot reload,
capture writes, periodic drift, retention), registers the ``pricing_models`` readiness check
when there is a registry to load from (ready once the first load finished) and returns the
teardown. Routes reach it with :func:`require_serving_runtime` (hot path, no dependency
resolution) or ``ServingRuntimeDep``; tests and the demo look it up with
:func:`started_serving_runtime`. Configuration is ``platform.settings.pricing``
(``SSMAS_PRICING_*``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from ssmas.core.api import ApiError
from ssmas.core.bus.maintenance import Janitor
from ssmas.core.platform import Platform
from ssmas.core.registry import registry_exists
from ssmas.core.tuning import refreeze
from ssmas.pricing.floors.decisions import FloorConfigs
from ssmas.pricing.lifecycle.alerts import PricingAlerts
from ssmas.pricing.lifecycle.monitoring import Monitor, Pruner
from ssmas.pricing.serving.capture import CaptureWriter
from ssmas.pricing.serving.hot_reload import LEGACY_GROUP_PREFIXES, ModelLoader
from ssmas.pricing.serving.service import PricingService
from ssmas.settings import PricingSettings

RUNTIME = "pricing"  # the name the runtime is attached under (``Platform.attach``)


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
        self.service.on_install = refreeze
        self.writer.start()
        if self.config.load_models:
            self.threads.append(self.loader.start(self.stop, self.platform.bus))
        else:
            self.loader.loaded.set()
        self.threads.append(
            self.monitor.start(self.stop, self.config.drift_interval_s, self.config.drift_window_s)
        )
        self.threads.append(self.pruner.start(self.stop, self.config.prune_interval_s))
        # Servers once read model events through a consumer group per process; remove those.
        janitor = Janitor(self.platform.bus, group_prefixes=LEGACY_GROUP_PREFIXES)
        self.threads.append(janitor.start(self.stop))

    def check_models(self) -> None:
        """Readiness: the first model load has finished; with ``require_model``, a champion
        serves (not the fallback)."""
        if not self.loader.loaded.is_set():
            raise RuntimeError("pricing models are still loading")
        if self.config.require_model and self.service.slot("champion") is None:
            # not the loader's error: it may quote the registry's URL
            raise RuntimeError("no champion model loaded")

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(5.0)
        self.writer.close()
        self.service.close()


def build_serving_runtime(
    platform: Platform, config: PricingSettings | None = None
) -> ServingRuntime:
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
        monitor=Monitor(platform.engine, service, alerts=PricingAlerts.from_settings(config)),
        pruner=Pruner(platform.engine, config),
        loader=ModelLoader(service, platform.settings),
    )


def setup(platform: Platform) -> Callable[[], None]:
    """App start: build and start the runtime, add the readiness check; returns the teardown."""
    runtime = build_serving_runtime(platform)
    runtime.start()
    platform.attach(RUNTIME, runtime)
    config = runtime.config
    if config.load_models and (config.require_model or registry_exists(platform.settings)):
        platform.checks["pricing_models"] = runtime.check_models

    def teardown() -> None:
        platform.detach(RUNTIME)
        runtime.close()

    return teardown


def started_serving_runtime(platform: Platform) -> ServingRuntime | None:
    """The runtime started for ``platform`` (tests install models through it)."""
    return platform.runtime(RUNTIME, ServingRuntime)


def require_serving_runtime(request: Request) -> ServingRuntime:
    """The running app's serving runtime; 503 when this app did not start one."""
    runtime: ServingRuntime | None = request.app.state.platform.runtimes.get(RUNTIME)
    if runtime is None:
        raise ApiError(503, "unavailable", "pricing serving is not started in this process")
    return runtime


async def get_serving_runtime(request: Request) -> ServingRuntime:
    """Dependency form of :func:`require_serving_runtime` (async: no thread hop per request)."""
    return require_serving_runtime(request)


ServingRuntimeDep = Annotated[ServingRuntime, Depends(get_serving_runtime)]
