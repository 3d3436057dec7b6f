"""Calendar features compared like for like, and the price-level (label) shift."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.pricing.lifecycle.drift import (
    build_baseline,
    compare_feature,
    compute_drift,
    label_shift,
)


def _training_days(rng: np.random.Generator) -> np.ndarray:
    """Three weekdays (Mon=1, Tue=2, Wed=3) of equal traffic."""
    return rng.choice([1.0, 2.0, 3.0], size=6000)


def test_one_unchanged_weekday_scores_zero_like_for_like() -> None:
    rng = np.random.default_rng(0)
    baseline = build_baseline(_training_days(rng), "numeric")
    wednesday = np.full(2000, 3.0)
    plain = compare_feature("day_of_week", baseline, wednesday)
    same = compare_feature("day_of_week", baseline, wednesday, cyclic=True)
    assert plain.score > 0.6  # the naive KS blames a calendar it cannot see
    assert same.score == pytest.approx(0.0)
    assert same.statistic == "tvd_same_period" and same.unreferenced_share == 0.0


def test_a_weekday_never_trained_on_has_no_reference_and_scores_nothing() -> None:
    rng = np.random.default_rng(1)
    baseline = build_baseline(_training_days(rng), "numeric")
    saturday = compare_feature("day_of_week", baseline, np.full(500, 6.0), cyclic=True)
    assert saturday.score == 0.0 and saturday.unreferenced_share == 1.0


def test_hours_reshaped_within_the_same_day_still_drift() -> None:
    rng = np.random.default_rng(2)
    hours = rng.integers(0, 24, size=24_000).astype(float)
    baseline = build_baseline(hours, "numeric")
    # Same hours present, but all traffic piled into hours 0-3 at 90%: a real change.
    skewed = np.where(rng.random(5000) < 0.9, rng.integers(0, 4, 5000), rng.integers(0, 24, 5000))
    drift = compare_feature("hour_of_day", baseline, skewed.astype(float), cyclic=True)
    assert drift.score > 0.5


def test_categorical_calendar_feature_is_restricted_too() -> None:
    rng = np.random.default_rng(3)
    baseline = build_baseline(rng.integers(0, 4, 8000).astype(float), "categorical")
    evening = compare_feature("hour_category", baseline, np.full(300, 3.0), cyclic=True)
    assert evening.score == pytest.approx(0.0)


def test_compute_drift_applies_cyclic_names_only() -> None:
    rng = np.random.default_rng(4)
    days = _training_days(rng)
    other = rng.normal(size=days.size)
    baselines = {
        "day_of_week": build_baseline(days, "numeric"),
        "x": build_baseline(other, "numeric"),
    }
    now = {"day_of_week": np.full(1000, 3.0), "x": rng.normal(size=1000)}
    report = compute_drift(baselines, now, ["day_of_week", "x"], cyclic={"day_of_week"})
    by_name = {f.name: f for f in report.features}
    assert by_name["day_of_week"].score == pytest.approx(0.0)
    assert by_name["x"].statistic == "ks" and by_name["x"].score < 0.1
    assert report.level == "OK"


def test_label_shift_measures_the_price_level() -> None:
    rng = np.random.default_rng(5)
    prices = rng.lognormal(0.0, 0.8, size=20_000)
    prices[rng.random(prices.size) < 0.3] = np.nan  # unfilled impressions have no price
    baseline = build_baseline(prices, "numeric")
    same = rng.lognormal(0.0, 0.8, size=5000)
    assert abs(label_shift(baseline, same)) < 0.05
    assert label_shift(baseline, same * 1.2) == pytest.approx(0.2, abs=0.06)
    assert label_shift(baseline, np.array([np.nan, np.nan])) == 0.0


def test_a_feature_without_any_reference_is_left_out_of_the_global_score() -> None:
    rng = np.random.default_rng(6)
    baselines = {
        "day_of_week": build_baseline(_training_days(rng), "numeric"),
        "x": build_baseline(rng.normal(size=6000), "numeric"),
    }
    now = {"day_of_week": np.full(1000, 6.0), "x": rng.normal(loc=3.0, size=1000)}
    report = compute_drift(baselines, now, ["day_of_week", "x"], cyclic={"day_of_week"})
    by_name = {f.name: f for f in report.features}
    assert report.score == pytest.approx(by_name["x"].score)
    assert report.level == "CRITICAL"
