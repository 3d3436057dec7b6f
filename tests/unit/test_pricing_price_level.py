"""The price-level trigger's like-for-like baseline on prices with a weekly pattern: a normal
weekend moves nothing (the median of all training prices says it moved by a third), a real
level change is measured whatever the day, and a kind of day training never saw is not judged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssmas.pricing.lifecycle.drift import DriftReport, build_baseline, label_shift
from ssmas.pricing.lifecycle.price_level import (
    PriceLevels,
    build_price_levels,
    price_level_shift,
)
from ssmas.pricing.lifecycle.retraining import RetrainConfig, Signals
from ssmas.pricing.model.features import fit_feature_schema
from tests.unit.test_pricing_features import training_frame

# Weekdays clear at about the same level, weekends far lower; nights lower than evenings.
DAY_FACTOR = {1: 1.0, 2: 1.02, 3: 1.0, 4: 0.98, 5: 1.03, 6: 0.6, 7: 0.55}
HOUR_FACTOR = 0.7 + 0.5 * np.sin(np.linspace(0.0, np.pi, 24))


def prices(
    days: list[int], per_day: int, seed: int, level: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``per_day`` auctions on each ISO weekday of ``days``: price, weekday, hour."""
    rng = np.random.default_rng(seed)
    dow = np.repeat(np.asarray(days), per_day)
    hour = rng.integers(0, 24, dow.size)
    factor = np.array([DAY_FACTOR[int(d)] for d in dow]) * HOUR_FACTOR[hour]
    price = 2.0 * factor * rng.lognormal(0.0, 0.35, dow.size) * level
    return price, dow, hour


TWO_WEEKS = [1, 2, 3, 4, 5, 6, 7] * 2


@pytest.fixture(scope="module")
def trained() -> tuple[PriceLevels, np.ndarray]:
    price, dow, hour = prices(TWO_WEEKS, 6000, seed=1)
    return build_price_levels(price, dow, hour), price


def test_a_normal_weekend_does_not_move_the_price_level(
    trained: tuple[PriceLevels, np.ndarray],
) -> None:
    levels, train_prices = trained
    saturday = prices([6], 8000, seed=2)
    found = price_level_shift(levels, *saturday)
    assert found.shift is not None and abs(found.shift) < 0.03
    assert found.referenced_share == 1.0
    # the all-days median the trigger used to compare with: a third "down", past any threshold
    assert label_shift(build_baseline(train_prices, "numeric"), saturday[0]) < -0.3
    weekday = price_level_shift(levels, *prices([3], 8000, seed=3))
    assert weekday.shift is not None and abs(weekday.shift) < 0.03


@pytest.mark.parametrize(("day", "level"), [(6, 1.2), (7, 0.8), (2, 1.25), (4, 0.9)])
def test_a_real_level_change_is_measured_on_any_day(
    trained: tuple[PriceLevels, np.ndarray], day: int, level: float
) -> None:
    levels, _ = trained
    found = price_level_shift(levels, *prices([day], 8000, seed=day, level=level))
    assert found.shift == pytest.approx(level - 1.0, abs=0.03)


def test_days_training_lacks_fall_back_to_their_kind_of_day_or_are_not_judged() -> None:
    price, dow, hour = prices([1, 2, 3], 6000, seed=4)  # Monday to Wednesday only
    levels = build_price_levels(price, dow, hour)
    thursday = price_level_shift(levels, *prices([4], 8000, seed=5))
    assert thursday.shift is not None and abs(thursday.shift) < 0.05
    moved = price_level_shift(levels, *prices([5], 8000, seed=6, level=1.3))
    # Friday against Monday-Wednesday (weekdays and hours alike): its own 3% comes along
    assert moved.shift == pytest.approx(1.3 * DAY_FACTOR[5] - 1.0, abs=0.05)
    saturday = price_level_shift(levels, *prices([6], 8000, seed=7))
    assert saturday == (None, 0.0)
    config = RetrainConfig(lake=Path("unused"))
    drift = DriftReport(
        n_rows=1,
        aggregate="mean",
        score=0.0,
        level="OK",
        action="monitor_only",
        requires_retraining=False,
        features=[],
    )
    assert Signals(drift, saturday.shift, None, None).urgent(config) == []
    assert Signals(drift, moved.shift, None, None).urgent(config) == [
        f"price level moved {moved.shift:+.1%}"
    ]


def test_thin_positions_fall_back_to_the_whole_weekday() -> None:
    # 120 auctions a day: 5 per weekday and hour, fewer than a position needs on its own
    price, dow, hour = prices(TWO_WEEKS, 120, seed=8)
    levels = build_price_levels(price, dow, hour)
    assert max(rows for _median, rows in levels.weekday_hour.values()) < 30
    assert levels.weekday[5][1] == 240  # Saturdays, both weeks
    sunday = price_level_shift(levels, *prices([7], 8000, seed=9))
    assert sunday.shift is not None and abs(sunday.shift) < 0.12
    assert price_level_shift(levels, *prices([7], 8000, seed=9, level=1.5)).shift == (
        pytest.approx(0.5, abs=0.15)
    )


def test_unpriced_rows_count_for_nothing_and_bad_calendars_are_refused(
    trained: tuple[PriceLevels, np.ndarray],
) -> None:
    levels, _ = trained
    price, dow, hour = prices([2], 4000, seed=10)
    price[::2] = np.nan
    price[1::4] = 0.0
    found = price_level_shift(levels, price, dow, hour)
    assert found.shift is not None and abs(found.shift) < 0.05 and found.referenced_share == 1.0
    with pytest.raises(ValueError, match="day_of_week"):
        price_level_shift(levels, price, np.zeros_like(dow), hour)
    with pytest.raises(ValueError, match="prices"):
        build_price_levels(price[:10], dow, hour)


def test_the_feature_schema_keeps_the_levels_through_its_json() -> None:
    frame, target = training_frame()
    schema = fit_feature_schema(frame, target)
    assert schema.label_levels is not None
    expected = build_price_levels(target, frame["day_of_week"], frame["hour_of_day"])
    assert schema.label_levels == expected
    restored = type(schema).model_validate_json(schema.model_dump_json())
    assert restored.label_levels == schema.label_levels
    old = schema.model_dump(mode="json")
    del old["label_levels"]  # a schema saved before the levels existed still loads
    assert type(schema).model_validate(old).label_levels is None
