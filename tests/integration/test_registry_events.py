"""Every registry change reaches every serving process through the bus, not a timer.

Two platforms share one data directory (as two server processes do) and each runs the pricing
model loader with its timer switched off (``reload_interval_s=0``): only the events the
registry publishes can make them switch. A training run's registration, a promotion and a
rollback must each reach both.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssmas.core.bus import bus_from_settings
from ssmas.core.platform import Platform, build_platform
from ssmas.core.registry.events import MODEL_EVENTS_TOPIC
from ssmas.core.worker import wait_until
from ssmas.pricing.model.bundle import MODEL_NAME
from ssmas.pricing.model.training import register
from ssmas.pricing.serving.runtime import ServingRuntime, build_serving_runtime
from ssmas.settings import PricingSettings, Settings
from tests.pricing_serving_support import small_model

from .pricing_support import fresh_registry


@pytest.fixture()
def servers(settings: Settings) -> Iterator[list[ServingRuntime]]:
    section = PricingSettings(reload_interval_s=0, drift_interval_s=0)
    shared = settings.model_copy(update={"pricing": section})
    platforms: list[Platform] = [build_platform(shared) for _ in range(2)]
    runtimes = [build_serving_runtime(p) for p in platforms]
    for runtime in runtimes:
        runtime.start()
    yield runtimes
    for runtime, platform in zip(runtimes, platforms, strict=True):
        runtime.close()
        platform.close()


def _serving(runtimes: list[ServingRuntime], variant: str) -> set[str | None]:
    out: set[str | None] = set()
    for runtime in runtimes:
        slot = runtime.service.slot(variant)  # type: ignore[arg-type]
        out.add(slot.version if slot is not None else None)
    return out


def test_train_promote_and_rollback_reach_every_process(
    tmp_path: Path, settings: Settings, servers: list[ServingRuntime]
) -> None:
    registry = fresh_registry(tmp_path, settings)
    first, alias = register(registry, copy.copy(small_model(seed=1)))  # what training does
    assert alias == "champion"
    assert wait_until(lambda: _serving(servers, "champion") == {str(first.version)}, 30.0)

    second, alias = register(registry, copy.copy(small_model(seed=2)))
    assert alias == "challenger"
    assert wait_until(lambda: _serving(servers, "challenger") == {str(second.version)}, 30.0)

    registry.promote(MODEL_NAME, second.version)
    # a process applies the champion and the challenger one after the other: wait for both
    assert wait_until(
        lambda: (
            _serving(servers, "champion") == {str(second.version)}
            and _serving(servers, "challenger") == {None}
        ),
        30.0,
    )

    registry.rollback(MODEL_NAME)
    assert wait_until(lambda: _serving(servers, "champion") == {str(first.version)}, 30.0)

    bus = bus_from_settings(settings)
    try:
        changes = [m.payload["change"] for m in bus.replay(MODEL_EVENTS_TOPIC)]
    finally:
        bus.close()
    assert changes[:2] == ["registered", "promoted"]
    assert "alias_set" in changes and changes[-1] == "rolled_back"
