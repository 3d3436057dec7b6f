"""Realism plots for ``docs/exchange.md`` (matplotlib, Agg backend: no display needed).

``render_realism_plots(out_dir)`` simulates a day and a week of noon hours with the default
seed, then draws: clearing prices against iPinYou, fill rate and revenue against a uniform
floor, and daily and weekly seasonality. Returns the written paths and the figures behind them.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ssmas.exchange.realism import (
    filled_prices,
    floor_sweep,
    ks_vs_reference,
    load_reference_prices,
    mean_scaled,
    seasonality,
)
from ssmas.exchange.simulate import SimulationConfig, simulate_frame

DAY = date(2024, 10, 22)
MONDAY = date(2024, 10, 21)
FLOORS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _prices_plot(
    plt: Any, clearing: np.ndarray, reference: np.ndarray, ks: float, path: Path
) -> None:
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.linspace(0, 5, 101)
    ours, real = mean_scaled(clearing), mean_scaled(reference)
    hist.hist(real, bins=bins, density=True, alpha=0.55, label="iPinYou (real)")
    hist.hist(ours, bins=bins, density=True, alpha=0.55, label="simulated")
    hist.set_xlabel("clearing price / mean")
    hist.set_ylabel("density")
    hist.legend()
    for values, label in ((real, "iPinYou (real)"), (ours, "simulated")):
        xs = np.sort(values)
        cdf.plot(xs, np.arange(1, xs.size + 1) / xs.size, label=label)
    cdf.set_xlim(0, 5)
    cdf.set_xlabel("clearing price / mean")
    cdf.set_ylabel("cumulative share")
    cdf.set_title(f"KS distance {ks:.3f}")
    cdf.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _sweep_plot(plt: Any, sweep: list[Any], path: Path) -> None:
    floors = [p.floor for p in sweep]
    fig, fill_ax = plt.subplots(figsize=(7, 4))
    fill_ax.plot(floors, [p.fill_rate for p in sweep], "o-", color="tab:blue")
    fill_ax.set_xlabel("uniform floor (EUR CPM)")
    fill_ax.set_ylabel("fill rate", color="tab:blue")
    revenue_ax = fill_ax.twinx()
    revenue_ax.plot(floors, [p.revenue_eur for p in sweep], "s-", color="tab:orange")
    revenue_ax.set_ylabel("revenue (EUR)", color="tab:orange")
    fill_ax.set_title("Same bids replayed under one floor for every ad unit")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _seasonality_plot(plt: Any, daily: dict[str, Any], weekly: dict[str, Any], path: Path) -> None:
    fig, (day_ax, week_ax) = plt.subplots(1, 2, figsize=(11, 4))
    hours = np.arange(24)
    day_ax.bar(hours, daily["requests_per_minute"], color="tab:blue", alpha=0.6)
    day_ax.set_xlabel("hour of day (UTC)")
    day_ax.set_ylabel("requests per minute", color="tab:blue")
    rpm_ax = day_ax.twinx()
    rpm_ax.plot(hours, daily["rpm"], "o-", color="tab:orange")
    rpm_ax.set_ylabel("RPM (EUR)", color="tab:orange")
    day_ax.set_title("Daily cycle")
    week_ax.bar(WEEKDAYS, weekly["requests_per_minute"], color="tab:blue", alpha=0.6)
    week_ax.set_ylabel("requests per minute, 12:00-13:00", color="tab:blue")
    week_rpm = week_ax.twinx()
    week_rpm.plot(WEEKDAYS, weekly["rpm"], "o-", color="tab:orange")
    week_rpm.set_ylabel("RPM (EUR)", color="tab:orange")
    week_ax.set_title("Weekly cycle")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _week_at_noon(seed: int, volume: float) -> dict[str, list[float]]:
    requests, rpm = [], []
    for offset in range(7):
        config = SimulationConfig(
            start=MONDAY + timedelta(days=offset),
            days=1,
            impressions_per_day=volume,
            seed=seed,
            start_hour=12,
            hours=1,
        )
        profile = seasonality(simulate_frame(config)[1])["by_weekday"]
        requests.append(profile["requests_per_minute"][offset])
        rpm.append(profile["rpm"][offset])
    return {"requests_per_minute": requests, "rpm": rpm}


def render_realism_plots(
    out_dir: Path, reference_path: Path, *, seed: int = 42, volume: float = 400_000
) -> dict[str, Any]:
    """Write the three realism PNGs to ``out_dir``; returns their paths and the numbers."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    impressions, metrics = simulate_frame(
        SimulationConfig(start=DAY, days=1, impressions_per_day=volume, seed=seed)
    )
    reference = load_reference_prices(reference_path)
    clearing = filled_prices(impressions)
    ks = ks_vs_reference(clearing, reference)
    sweep = floor_sweep(impressions, FLOORS)
    daily = seasonality(metrics)["by_hour"]
    weekly = _week_at_noon(seed, volume)
    paths = {
        "prices": out_dir / "exchange_prices_vs_ipinyou.png",
        "floors": out_dir / "exchange_floor_sweep.png",
        "seasonality": out_dir / "exchange_seasonality.png",
    }
    _prices_plot(plt, clearing, reference, ks, paths["prices"])
    _sweep_plot(plt, sweep, paths["floors"])
    _seasonality_plot(plt, daily, weekly, paths["seasonality"])
    return {
        "paths": paths,
        "ks": ks,
        "impressions": impressions.num_rows,
        "sweep": [(p.floor, p.fill_rate, p.revenue_eur) for p in sweep],
        "daily": daily,
        "weekly": weekly,
    }
