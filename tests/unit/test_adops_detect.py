"""The streaming detector: causal, chunk-invariant, sane on bad series, and it finds anomalies."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.adops.detect import DetectorConfig, SeriesDetector, find_period, score_series
from ssmas.adops.detect.parts import MeanShift, RunningStep, Spread


def seasonal_series(n: int = 3000, period: int = 96, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 20 * np.sin(2 * np.pi * t / period) + rng.normal(0, 1.0, n)


def test_scores_are_in_unit_interval_and_silent_in_warmup() -> None:
    scores = score_series(seasonal_series())
    assert scores.shape == (3000,)
    assert np.all((scores >= 0) & (scores < 1))
    assert not scores[: DetectorConfig().warmup].any()


def test_a_level_drop_in_a_seasonal_series_is_the_top_score() -> None:
    x = seasonal_series()
    x[2000:2100] -= 30  # an outage: the metric falls for 100 points
    scores = score_series(x)
    top = int(np.argmax(scores))
    assert 2000 <= top <= 2005  # found at once, not at the end of the drop
    assert scores[top] > 0.7
    # after it, the drop's other points are silent: one alert per incident
    assert np.count_nonzero(scores[2001:2100] > 0.55) <= 1


def test_chunked_scoring_equals_one_call() -> None:
    x = seasonal_series()
    x[1500] += 25
    x[2200:2300] = np.nan
    whole = score_series(x)
    detector = SeriesDetector()
    rng = np.random.default_rng(11)
    parts, first = [], 0
    while first < len(x):
        size = int(rng.integers(1, 400))
        parts.append(detector.score(x[first : first + size]))
        first += size
    assert np.allclose(np.concatenate(parts), whole, atol=1e-12)
    assert detector.period == 96


def test_causal_the_future_does_not_change_past_scores() -> None:
    x = seasonal_series()
    changed = x.copy()
    changed[2500:] += 100
    assert np.array_equal(score_series(x)[:2500], score_series(changed)[:2500])


def test_missing_values_score_zero_and_leading_ones_are_skipped() -> None:
    x = seasonal_series(1500)
    x[:5] = np.nan
    x[700:720] = np.nan
    x[900] = np.inf
    scores = score_series(x)
    assert not scores[:5].any() and not scores[700:720].any() and scores[900] == 0.0
    # skipping the leading gap is the same as the series without it
    assert np.allclose(scores[5:700], score_series(x[5:])[:695])


def test_degenerate_series_get_sane_scores() -> None:
    assert list(score_series([1.0, 2.0, 3.0])) == [0.0, 0.0, 0.0]
    assert list(score_series([])) == []
    assert not score_series(np.full(2000, 7.0)).any()
    assert not score_series(np.full(50, np.nan)).any()
    flat = np.full(2000, 7.0)
    flat[1200:] = 9.0  # the first change a constant series ever makes
    scores = score_series(flat)
    assert int(np.argmax(scores)) == 1200 and scores[1200] > 0.8


def test_a_spike_repeated_every_day_stops_alerting() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(10, 1, 4000)
    spikes = np.arange(400, 4000, 288)
    x[spikes] += 15  # the same nightly batch job
    scores = score_series(x)
    assert scores[400] > 0.7  # the first time it is news
    assert scores[spikes[1:]].max() < 0.6  # then it is what the series does
    assert scores[spikes[-6:]].mean() < 0.5


def test_find_period() -> None:
    t = np.arange(600)
    assert find_period(np.sin(2 * np.pi * t / 48)) == 48
    assert find_period(np.random.default_rng(1).normal(size=600)) == 0
    assert find_period(np.ones(600)) == 0


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        DetectorConfig(scales=(4,))
    with pytest.raises(ValueError, match="at least 1"):
        DetectorConfig(persistence=0)


def test_a_change_of_noise_without_a_change_of_level_is_found() -> None:
    rng = np.random.default_rng(8)
    x = 20 + rng.normal(0, 1, 3000)
    x[2000:] = 20 + rng.normal(0, 3, 1000)  # same mean, three times the noise
    scores = score_series(x)
    later = 1000 + int(np.argmax(scores[1000:]))
    assert 2000 <= later < 2040 and scores[later] > 0.55
    # the spread part sees it as a shift of its own level; the mean shift part does not
    spread = Spread(32, 256, 0.05).step(x)
    shift = MeanShift(32, 256, 0.05).step(x)
    assert spread[2000:2064].max() > 2 * spread[1000:2000].max()
    assert shift[2000:2064].max() < 1.5 * shift[1000:2000].max()


def test_the_floor_scale_is_the_mean_absolute_step_and_a_level_shift_counts_once() -> None:
    x = np.concatenate((np.zeros(500), np.full(500, 1000.0)))  # one jump of 1000
    x += np.tile([0.0, 1.0], 500)  # a point-to-point move of 1
    whole = RunningStep().before_each(x)
    steps = np.abs(np.diff(x, prepend=x[0]))  # the first point has no step before it: 0
    expected = [steps[:i].sum() / i for i in range(10, len(x))]
    assert np.allclose(whole[10:], expected)
    assert not whole[:10].any()
    # the jump raises the reference by 1000/n once (the standard deviation would be ~500 for good)
    assert whole[-1] < 3.0
    step = RunningStep()
    chunks = [step.before_each(x[a : a + 137]) for a in range(0, len(x), 137)]
    assert np.allclose(np.concatenate(chunks), whole)
