"""Drift: seed levels on the statistic, KS against scipy, TVD / PSI, a drifted day from a schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ssmas.pricing.lifecycle.drift import (
    DriftError,
    build_baseline,
    compare_feature,
    compute_drift,
    drift_action,
    drift_level,
    ks_statistic,
)
from ssmas.pricing.model.features import FEATURE_NAMES, FeatureEncoder, fit_feature_schema


@pytest.mark.parametrize(
    ("score", "level", "action"),
    [
        (0.0, "OK", "monitor_only"),
        (0.3, "OK", "monitor_only"),
        (0.3001, "INFO", "monitor_only"),
        (0.5, "INFO", "monitor_only"),
        (0.5001, "WARNING", "schedule_retraining"),
        (0.7, "WARNING", "schedule_retraining"),
        (0.7001, "CRITICAL", "retrain_now"),
        (1.0, "CRITICAL", "retrain_now"),
    ],
)
def test_seed_levels_and_actions(score: float, level: str, action: str) -> None:
    assert drift_level(score) == level
    assert drift_action(score) == action


def test_exact_ks_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 3000), rng.normal(0.3, 1.2, 2000)
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def test_baseline_ks_is_exact_for_discrete_and_close_for_continuous() -> None:
    rng = np.random.default_rng(1)
    hours_train = rng.integers(0, 24, 20_000).astype(float)
    hours_now = rng.choice(24, 5000, p=np.r_[np.full(12, 0.02), np.full(12, 0.0633333333)])
    exact = stats.ks_2samp(hours_train, hours_now).statistic
    drift = compare_feature("hour", build_baseline(hours_train, "numeric"), hours_now)
    assert drift.score == pytest.approx(exact, abs=1e-12)
    cpm_train, cpm_now = rng.gamma(2.0, 1.0, 50_000), rng.gamma(2.4, 1.0, 20_000)
    continuous = compare_feature("cpm", build_baseline(cpm_train, "numeric"), cpm_now)
    assert continuous.score == pytest.approx(stats.ks_2samp(cpm_train, cpm_now).statistic, abs=0.02)


def test_identical_distribution_is_ok() -> None:
    rng = np.random.default_rng(2)
    baseline = build_baseline(rng.gamma(2.0, 1.0, 50_000), "numeric")
    drift = compare_feature("cpm", baseline, rng.gamma(2.0, 1.0, 20_000))
    assert drift.level == "OK" and drift.score < 0.05 and drift.psi < 0.01


def test_shifted_distribution_is_warning_or_critical() -> None:
    rng = np.random.default_rng(3)
    baseline = build_baseline(rng.normal(0, 1, 50_000), "numeric")
    moderate = compare_feature("x", baseline, rng.normal(1.6, 1, 20_000))
    assert moderate.level == "WARNING"  # KS of a 1.6 sigma shift is about 0.58
    severe = compare_feature("x", baseline, rng.normal(4, 1, 20_000))
    assert severe.level == "CRITICAL" and severe.psi > 1.0
    outside = compare_feature("x", baseline, np.full(100, 50.0))
    assert outside.score == pytest.approx(1.0)


def test_categorical_drift_is_total_variation_with_psi() -> None:
    baseline = build_baseline(np.array([0.0] * 50 + [1.0] * 30 + [2.0] * 20), "categorical")
    assert baseline.categories == [0.0, 1.0, 2.0]
    now = np.array([0.0] * 20 + [1.0] * 30 + [3.0] * 50)  # a new category appears
    drift = compare_feature("format", baseline, now)
    # |0.5 - 0.2| + |0.3 - 0.3| + |0.2 - 0| + |0 - 0.5| = 1.0 -> TVD 0.5
    assert drift.statistic == "tvd" and drift.score == pytest.approx(0.5)
    expected_psi = (0.2 - 0.5) * np.log(0.2 / 0.5) + (1e-4 - 0.2) * np.log(1e-4 / 0.2)
    expected_psi += (0.5 - 1e-4) * np.log(0.5 / 1e-4)
    assert drift.psi == pytest.approx(expected_psi)
    missing = compare_feature("bidder", baseline, np.array([np.nan] * 10))
    assert missing.score == pytest.approx(1.0) and missing.missing_share == 1.0


def _day(n: int, seed: int, *, drifted: bool) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    hour_p = np.r_[np.full(20, 0.002), np.full(4, 0.24)] if drifted else None
    frame = pd.DataFrame(
        {
            "hour_of_day": rng.choice(24, n, p=hour_p),
            "day_of_week": rng.integers(6, 8, n) if drifted else rng.integers(1, 8, n),
            "country_tier": np.full(n, 3) if drifted else rng.integers(1, 4, n),
            "device_category": rng.choice(["mobile", "tablet", "desktop"], n),
            "format": np.full(n, "video") if drifted else rng.choice(["banner", "native"], n),
            "inventory_type": rng.choice(["premium", "standard"], n),
            "bidder": rng.choice(["b9", "b8"] if drifted else ["b1", "b2", "b3"], n),
            "demand_channel": rng.choice(["pmp"] if drifted else ["openrtb"], n),
            "domain": rng.choice(["new.es"] if drifted else ["a.es", "b.es"], n),
            "user_engagement_score": rng.beta(8, 2, n) if drifted else rng.beta(2, 8, n),
            "device_performance_score": rng.normal(300 if drifted else 100, 10, n),
            "historical_ctr_avg": rng.beta(1, 30 if drifted else 80, n),
        }
    )
    return frame, rng.gamma(2.0, 1.0, n)


def test_drift_of_a_day_against_the_schema_baseline() -> None:
    train, target = _day(20_000, 10, drifted=False)
    schema = fit_feature_schema(train, target)
    encoder = FeatureEncoder(schema)
    same, _ = _day(5000, 11, drifted=False)
    calm = compute_drift(schema.baselines, encoder.encode_frame(same), schema.feature_names)
    assert calm.level == "OK" and calm.action == "monitor_only" and not calm.requires_retraining
    assert [f.name for f in calm.features] == list(FEATURE_NAMES)
    shifted, _ = _day(5000, 12, drifted=True)
    storm = compute_drift(schema.baselines, encoder.encode_frame(shifted), schema.feature_names)
    assert storm.level in {"WARNING", "CRITICAL"} and storm.requires_retraining
    assert storm.score == pytest.approx(np.mean([f.score for f in storm.features]))
    worst = compute_drift(
        schema.baselines, encoder.encode_frame(shifted), schema.feature_names, aggregate="max"
    )
    assert worst.score == max(f.score for f in storm.features) and worst.level == "CRITICAL"
    restored = type(storm).model_validate_json(storm.model_dump_json())
    assert restored == storm


def test_drift_errors_are_clear() -> None:
    baseline = {"x": build_baseline([1.0, 2.0], "numeric")}
    with pytest.raises(DriftError, match="no rows"):
        compute_drift(baseline, np.empty((0, 1)), ["x"])
    with pytest.raises(DriftError, match="no training baseline for features: y"):
        compute_drift(baseline, {"y": [1.0]}, ["y"])
    with pytest.raises(DriftError, match=r"expected a \(rows, 1\) matrix"):
        compute_drift(baseline, np.ones((3, 2)), ["x"])
    with pytest.raises(DriftError, match="empty column"):
        build_baseline([], "numeric")
