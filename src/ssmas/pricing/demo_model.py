"""The demo's first pricing model: a small simulated history, trained and registered.

``ssmas demo`` calls :func:`train_demo_model`; the history is kept under the data directory so
a second start reuses it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ssmas.core.registry import ModelVersionInfo
from ssmas.exchange.lake import raw_days as lake_days
from ssmas.pricing.train import Progress, train_from_lake
from ssmas.settings import Settings


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
) -> ModelVersionInfo:
    """Simulate a small history (if absent), train on it and register the result (< 1 min)."""
    from ssmas.core.registry import registry_from_settings
    from ssmas.exchange.simulate import SimulationConfig, simulate_to_lake

    start = demo_start(days)
    end = start + timedelta(days=days - 1)
    lake = demo_lake_dir(settings.data_dir)
    config = SimulationConfig(start, days, float(impressions_per_day), seed=seed, workers=2)
    wanted = [start + timedelta(days=i) for i in range(days)]
    present = set(lake_days(lake)) if lake.exists() else set()
    if any(d not in present for d in wanted):
        if progress:
            progress(f"simulating {days} days x {impressions_per_day:,} impressions")
        simulate_to_lake(config, lake)
    result = train_from_lake(
        lake,
        start,
        end,
        registry=registry_from_settings(settings),
        seed=seed,
        tags={"source": "demo"},
        progress=progress,
    )
    assert result.info is not None
    return result.info
