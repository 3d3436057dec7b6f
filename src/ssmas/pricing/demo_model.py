"""The demo's first pricing model: a small simulated history, trained and registered as champion.

``ssmas demo`` calls :func:`train_demo_model`; the history is kept under the data directory so
a second start reuses it. It is simulated into a sibling ``.partial`` directory and moved into
place once complete, so a reader (the retraining worker, a later start) never sees half a day.
The simulation runs in this process: on two cores a spawned process pool costs more in start-up
and imports than it saves on a history this small.
"""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ssmas.core.registry import CHAMPION, ModelVersionInfo
from ssmas.exchange import lake_days
from ssmas.pricing.model.training import Progress, train_from_lake
from ssmas.settings import Settings

__all__ = ["TrainingStopped", "demo_lake_dir", "demo_start", "train_demo_model"]


class TrainingStopped(RuntimeError):
    """The demo was asked to stop while its first model was being prepared."""


def demo_start(days: int, today: date | None = None) -> date:
    """First day of a demo history that ends yesterday (UTC)."""
    return (today or datetime.now(UTC).date()) - timedelta(days=days)


def demo_lake_dir(data_dir: Path) -> Path:
    """Where the demo's simulated history lives under a data directory."""
    return data_dir / "pricing" / "demo-lake"


def train_demo_model(
    settings: Settings,
    *,
    days: int = 3,
    impressions_per_day: int = 200_000,
    seed: int = 42,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> ModelVersionInfo:
    """Simulate a small history (if absent), train on it and register the result as champion.

    About 30 s on two busy cores for the defaults (10 s simulation, 4 s training, the rest
    MLflow's first start). ``stop`` is checked between simulated hours and training phases:
    once set, :class:`TrainingStopped` is raised and nothing is registered.
    """
    from ssmas.core.registry import registry_from_settings
    from ssmas.exchange import SimulationConfig, simulate_to_lake

    def check() -> None:
        if stop is not None and stop.is_set():
            raise TrainingStopped("stopped while preparing the demo model")

    def say(message: str) -> None:
        check()
        if progress is not None:
            progress(message)

    start = demo_start(days)
    end = start + timedelta(days=days - 1)
    lake = demo_lake_dir(settings.data_dir)
    wanted = [start + timedelta(days=i) for i in range(days)]
    present = set(lake_days(lake)) if lake.exists() else set()
    if any(d not in present for d in wanted):
        say(f"simulating {days} days x {impressions_per_day:,} impressions")
        partial = lake.with_name(lake.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        config = SimulationConfig(start, days, float(impressions_per_day), seed=seed, workers=1)
        simulate_to_lake(config, partial, progress=lambda _rows, _at: check())
        shutil.rmtree(lake, ignore_errors=True)
        partial.rename(lake)
    check()
    result = train_from_lake(
        lake,
        start,
        end,
        registry=registry_from_settings(settings),
        seed=seed,
        alias=CHAMPION,
        tags={"source": "demo"},
        progress=say,
    )
    assert result.info is not None
    return result.info
