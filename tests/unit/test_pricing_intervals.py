"""Split-conformal intervals: 80% coverage on heteroscedastic data, per spread and per segment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssmas.pricing.model.intervals import ConformalInterval, NotFittedError


def heteroscedastic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x in [0, 1); y = 2 + 3x + noise whose scale grows tenfold with x; an honest spread."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    scale = 0.1 + x
    y = 2.0 + 3.0 * x + rng.normal(0.0, 1.0, n) * scale
    return x, y, 2.0 + 3.0 * x, scale


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    return float(np.mean((y >= lower) & (y <= upper)))


def test_fit_follows_the_estimator_contract() -> None:
    _, y, pred, _ = heteroscedastic(500, 0)
    model = ConformalInterval(coverage=0.8)
    assert model.fit(y, pred) is model
    assert model.n_calibration_ == 500 and model.normalized_ is False
    assert model.bounds_[0] == -model.bounds_[1] and model.bounds_[1] > 0
    with pytest.raises(NotFittedError):
        ConformalInterval().predict_interval(pred)


def test_normalised_interval_covers_80_percent_marginally_and_conditionally() -> None:
    _, y_cal, pred_cal, spread_cal = heteroscedastic(5000, 1)
    x, y, pred, spread = heteroscedastic(40_000, 2)
    model = ConformalInterval(clip_lower=None).fit(y_cal, pred_cal, spread=spread_cal)
    lower, upper = model.predict_interval(pred, spread=spread)
    assert 0.78 <= coverage(y, lower, upper) <= 0.82
    for lo, hi in [(0.0, 0.2), (0.8, 1.0)]:
        part = (x >= lo) & (x < hi)
        assert 0.76 <= coverage(y[part], lower[part], upper[part]) <= 0.84
    # Without the spread, the marginal level holds but the noisy end is under-covered.
    plain = ConformalInterval(clip_lower=None).fit(y_cal, pred_cal)
    p_lower, p_upper = plain.predict_interval(pred)
    assert 0.78 <= coverage(y, p_lower, p_upper) <= 0.82
    noisy = x >= 0.8
    assert coverage(y[noisy], p_lower[noisy], p_upper[noisy]) < 0.70
    assert np.mean(upper - lower) < np.mean(p_upper - p_lower)


def test_segment_intervals_cover_each_segment() -> None:
    x_cal, y_cal, pred_cal, _ = heteroscedastic(6000, 3)
    x, y, pred, _ = heteroscedastic(40_000, 4)
    segments_cal = np.where(x_cal < 0.5, "calm", "noisy")
    segments = np.where(x < 0.5, "calm", "noisy")
    model = ConformalInterval(clip_lower=None).fit(y_cal, pred_cal, groups=segments_cal)
    assert set(model.group_bounds_) == {"calm", "noisy"}
    lower, upper = model.predict_interval(pred, groups=segments)
    assert 0.78 <= coverage(y, lower, upper) <= 0.82
    for name in ("calm", "noisy"):
        part = segments == name
        assert 0.77 <= coverage(y[part], lower[part], upper[part]) <= 0.83
    unseen = model.predict_interval(pred[:3], groups=["new"] * 3)
    np.testing.assert_allclose(unseen[1] - pred[:3], model.bounds_[1])


def test_signed_method_suits_skewed_prices() -> None:
    rng = np.random.default_rng(5)
    y_cal, y = rng.lognormal(0.5, 0.8, 5000), rng.lognormal(0.5, 0.8, 40_000)
    median = math.exp(0.5)
    model = ConformalInterval(method="signed").fit(y_cal, np.full(5000, median))
    lower, upper = model.predict_interval(np.full(40_000, median))
    assert 0.78 <= coverage(y, lower, upper) <= 0.82
    assert upper[0] - median > median - lower[0] > 0  # longer upper tail
    assert lower.min() >= 0.0


def test_lower_bound_clipped_at_zero_and_tiny_calibration_is_infinite() -> None:
    model = ConformalInterval().fit([1.0, 3.0, 2.0, 5.0] * 25, [2.0] * 100)
    lower, _ = model.predict_interval([0.1, 4.0])
    assert lower[0] == 0.0 and lower[1] > 0.0
    tiny = ConformalInterval(coverage=0.8).fit([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert math.isinf(tiny.bounds_[1])  # 3 points cannot certify 80%


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="coverage must be strictly between 0 and 1"):
        ConformalInterval(coverage=1.0).fit([1.0], [1.0])
    with pytest.raises(ValueError, match="y_pred has 1 values, expected 2"):
        ConformalInterval().fit([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        ConformalInterval().fit([1.0, np.nan], [1.0, 1.0])
    fitted = ConformalInterval().fit([1.0] * 20, [1.0] * 20)
    with pytest.raises(ValueError, match="exactly when it was passed to fit"):
        fitted.predict_interval([1.0], spread=[1.0])
