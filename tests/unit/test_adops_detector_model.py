"""The stream detector's trained model: seasonal profiles, gains, and the stream using it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ssmas.adops.stream import StreamProcessor
from ssmas.adops.stream.model import (
    DetectorModel,
    DetectorModelError,
    TrainingConfig,
    fit_detector,
    history_from_messages,
)
from ssmas.adops.stream.processor import METRIC_FLOORS

START = datetime(2024, 10, 21, tzinfo=UTC)
T0 = int(START.timestamp())


def diurnal(minutes: int, seed: int, *, level: float = 0.6, swing: float = 0.25) -> np.ndarray:
    """Utilisation-like: a daily cycle (low at night) with small minute-to-minute noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(minutes)
    return level + swing * np.sin(2 * np.pi * (t / 1440.0 - 0.3)) + rng.normal(0, 0.006, minutes)


def messages(values: np.ndarray, first_minute: int = 0) -> list[dict[str, object]]:
    return [
        {
            "ts": (START + timedelta(minutes=first_minute + i)).isoformat(),
            "entity_type": "exchange",
            "entity_id": "exchange",
            "capacity_utilisation": float(v),
        }
        for i, v in enumerate(values)
    ]


def test_profile_learns_the_day_and_the_residual_noise() -> None:
    values = diurnal(2 * 1440, seed=1)
    history = history_from_messages(messages(values))
    model = fit_detector(history, floors=METRIC_FLOORS)
    key = "exchange/exchange/capacity_utilisation"
    assert model.keys == [key]
    row = np.array([0])
    for minute in (200, 700, 1200):  # the profile follows the cycle within the noise
        at = T0 + minute * 60
        expected = 0.6 + 0.25 * math.sin(2 * math.pi * (minute / 1440.0 - 0.3))
        assert model.level(row, at)[0] == pytest.approx(expected, abs=0.02)
    assert 0.003 < model.noise[0] < 0.012  # the residual's noise, not the daily swing
    assert 0.75 <= model.gain[0] <= 3.0
    assert model.metrics["history_days"] == pytest.approx(2.0, abs=0.01)


def test_too_little_history_is_refused() -> None:
    history = history_from_messages(messages(diurnal(300, seed=2)))
    with pytest.raises(DetectorModelError, match="day"):
        fit_detector(history)
    with pytest.raises(DetectorModelError):
        TrainingConfig(slot_minutes=7)  # does not divide a day


def test_model_round_trips_and_garbage_is_refused() -> None:
    model = fit_detector(history_from_messages(messages(diurnal(1500, seed=3))))
    back = DetectorModel.from_bytes(model.to_bytes())
    assert back.keys == model.keys
    np.testing.assert_array_equal(back.profile, model.profile)
    np.testing.assert_array_equal(back.gain, model.gain)
    with pytest.raises(DetectorModelError):
        DetectorModel.from_bytes(b"not a model")


def run(processor: StreamProcessor, values: np.ndarray, first_minute: int) -> list[int]:
    """Feed minutes one at a time; the minutes (from ``first_minute``) that alerted."""
    alerted = []
    for i, batch in enumerate(messages(values, first_minute)):
        if processor.ingest_exchange([batch]):
            alerted.append(first_minute + i)
    return alerted


def test_the_trained_model_sees_a_night_jump_the_online_baseline_misses() -> None:
    """A step of +0.12 at 03:45, when utilisation is at its low: the online baseline's variance
    holds the daily swing and lags it; the seasonal residual's does not."""
    train = diurnal(1440, seed=4)
    later = diurnal(3 * 1440, seed=5)[1440:]  # the next day
    fault_at = 1440 + 3 * 60 + 45
    later = later.copy()
    later[fault_at - 1440 : fault_at - 1440 + 30] += 0.12
    online = StreamProcessor()
    run(online, train, 0)
    trained = StreamProcessor()
    run(trained, train, 0)
    covered = trained.apply_model(fit_detector(history_from_messages(messages(train))), "1")
    assert covered == 1 and trained.model_version == "1"
    online_alerts = run(online, later[: fault_at - 1440 + 40], 1440)
    trained_alerts = run(trained, later[: fault_at - 1440 + 40], 1440)
    in_fault = range(fault_at, fault_at + 10)
    assert not any(m in in_fault for m in online_alerts)
    assert any(m in in_fault for m in trained_alerts)
    # and it is quiet on the normal part of that day
    assert not [m for m in trained_alerts if m < fault_at]


def test_a_checkpoint_keeps_the_model_and_a_restart_scores_the_same() -> None:
    train = diurnal(1440, seed=6)
    processor = StreamProcessor()
    run(processor, train, 0)
    processor.apply_model(fit_detector(history_from_messages(messages(train))), "7")
    tail = diurnal(1440 + 120, seed=7)[1440:]
    run(processor, tail[:60], 1440)
    restored = StreamProcessor.from_bytes(processor.to_bytes())
    assert restored.model_version == "7" and restored.model is not None
    tail = tail.copy()
    tail[80:] += 0.3
    assert run(processor, tail[60:], 1500) == run(restored, tail[60:], 1500)
    # back to the online baseline alone
    assert restored.apply_model(None) == 0 and restored.model is None


def test_degenerate_history_trains_sanely() -> None:
    """A constant series, one with NaN and a six-hour gap, and one of three points."""
    minutes = [T0 + 60 * i for i in range(1500)]
    gappy = [float("nan") if i % 97 == 0 else 0.5 + 0.01 * (i % 7) for i in range(1500)]
    history = {
        "exchange/exchange/error_rate": (minutes, [0.0] * 1500),
        "publisher/p/fill_rate": (
            [m for i, m in enumerate(minutes) if not 300 <= i < 660],
            [v for i, v in enumerate(gappy) if not 300 <= i < 660],
        ),
        "publisher/q/rpm": (minutes[:3], [1.0, 2.0, 3.0]),
    }
    model = fit_detector(history, floors=METRIC_FLOORS)
    assert model.keys == ["exchange/exchange/error_rate", "publisher/p/fill_rate"]
    assert np.isfinite(model.profile).all() and np.isfinite(model.gain).all()
    assert model.noise[0] == 0.0
    processor = StreamProcessor()
    processor.apply_model(model, "1")
    for i in range(200):  # the constant series stays quiet, whatever its variance
        at = START + timedelta(days=2, minutes=i)
        assert not processor.ingest_exchange(
            [
                {
                    "ts": at.isoformat(),
                    "entity_type": "exchange",
                    "entity_id": "exchange",
                    "error_rate": 0.0,
                }
            ]
        )
