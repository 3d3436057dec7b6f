"""Realism acceptance: price shape vs real iPinYou prices, floor response, seasonality."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ssmas.exchange.realism import (
    filled_prices,
    floor_sweep,
    ks_vs_reference,
    load_reference_prices,
    seasonality,
)
from ssmas.exchange.simulate import SimulationConfig, simulate_frame

IPINYOU = Path(__file__).resolve().parents[3] / "shared" / "data" / "ipinyou" / "train.txt"
DAY = date(2024, 10, 22)


@pytest.fixture(scope="module")
def day() -> tuple[pa.Table, pa.Table]:
    return simulate_frame(SimulationConfig(start=DAY, days=1, impressions_per_day=200_000))


def test_clearing_prices_match_ipinyou_shape(day: tuple[pa.Table, pa.Table]) -> None:
    if not IPINYOU.exists():
        pytest.fail(f"real iPinYou sample missing at {IPINYOU}")
    reference = load_reference_prices(IPINYOU)
    impressions, _ = day
    assert ks_vs_reference(filled_prices(impressions), reference) <= 0.10


def test_uniform_floor_lowers_fill_and_revenue_rises_then_falls(
    day: tuple[pa.Table, pa.Table],
) -> None:
    impressions, _ = day
    points = floor_sweep(impressions, [0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 4.0])
    fills = [p.fill_rate for p in points]
    revenue = [p.revenue_eur for p in points]
    assert all(a >= b for a, b in itertools.pairwise(fills))
    assert fills[0] > 0.9 and fills[-1] < 0.1
    best = int(np.argmax(revenue))
    assert 0 < best < len(points) - 1
    assert revenue[best] > 1.02 * revenue[0]
    assert revenue[-1] < 0.5 * revenue[best]


def test_daily_seasonality_in_requests_and_rpm(day: tuple[pa.Table, pa.Table]) -> None:
    _, metrics = day
    by_hour = seasonality(metrics)["by_hour"]
    requests, rpm = by_hour["requests_per_minute"], by_hour["rpm"]
    assert min(requests[20:23]) > 3 * max(requests[2:5])
    assert np.mean(rpm[19:23]) > 1.1 * np.mean(rpm[2:5])


def test_weekly_seasonality_in_rpm() -> None:
    rpm = []
    for offset in range(7):  # Monday 2024-10-21 to Sunday, noon to one
        config = SimulationConfig(
            start=date(2024, 10, 21) + timedelta(days=offset),
            days=1,
            impressions_per_day=400_000,
            start_hour=12,
            hours=1,
        )
        _, metrics = simulate_frame(config)
        rpm.append(float(np.mean(seasonality(metrics)["by_weekday"]["rpm"][offset])))
    weekdays, weekend = np.mean(rpm[:4]), np.mean(rpm[5:])
    assert weekend < 0.95 * weekdays
