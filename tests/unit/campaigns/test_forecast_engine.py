"""The forecasting service on synthetic series whose answer is known: seasonality carried over,
honest backtests (nothing scored is learnt from), calibrated intervals, clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.forecast import evaluate_series, forecast_series, prepare_series
from ssmas.campaigns.forecast.engine import plan_windows


def weekly(n: int, seed: int = 0, noise: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 100 + 0.05 * t + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, noise, n)
    return pd.DataFrame({"ds": pd.date_range("2022-01-03", periods=n, freq="D"), "y": y})


def test_forecast_follows_the_weekly_cycle_within_its_interval() -> None:
    table = weekly(260)
    series = prepare_series(table.head(230))
    result = forecast_series(series, 14, 80, with_arima=False)
    truth = table["y"].to_numpy()[230:244]
    frame = result.frame
    assert result.calibrated and result.windows >= 2
    assert result.rule == "top2" and sum(result.weights.values()) == pytest.approx(1.0)
    # far better than the series' own spread: the cycle and the level were learnt
    assert np.abs(frame["yhat"] - truth).mean() < 2.0 < np.std(truth)
    assert ((frame["yhat_lower"] <= frame["yhat"]) & (frame["yhat"] <= frame["yhat_upper"])).all()
    inside = (truth >= frame["yhat_lower"]) & (truth <= frame["yhat_upper"])
    assert inside.mean() >= 0.5


def test_evaluation_beats_seasonal_naive_and_covers_near_nominal() -> None:
    series = prepare_series(weekly(400, seed=2, noise=2.0))
    evaluation = evaluate_series(
        series, 7, step=7, windows=10, calibration_windows=8, with_arima=False
    )
    assert evaluation.naive_name == "SeasonalNaive"
    # seasonal naive repeats one noisy week; the fitted members average the noise out
    assert evaluation.mase_vs_naive < 0.9
    assert 0.65 <= evaluation.coverage <= 0.95
    assert len(evaluation.cutoffs) == 10
    assert evaluation.cutoffs[-1] == series.ds[-8]  # the last window ends at the last point


def test_backtest_weights_come_only_from_earlier_windows() -> None:
    # the series changes regime in its scored part: an ensemble that peeked at the scored
    # windows would already know it; ours is scored on exactly the members' forecasts it had
    series = prepare_series(weekly(300, seed=4))
    evaluation = evaluate_series(
        series, 7, step=7, windows=4, calibration_windows=4, with_arima=False, with_gbm=False
    )
    assert evaluation.forecast.shape == (4, 7)
    assert set(evaluation.rules_chosen) <= {"median", "inverse_mae", "best", "top2", "stack"}


def test_plan_windows_keeps_half_the_series_for_training() -> None:
    assert plan_windows(2597, 30) == (30, 12)
    step, windows = plan_windows(2597, 365)
    assert windows == 12 and 2597 - 365 - step * (windows - 1) >= 2597 // 2
    assert plan_windows(12, 10)[1] == 0


def test_bad_horizon_and_level_are_refused() -> None:
    series = prepare_series(weekly(60))
    with pytest.raises(ValueError, match="horizon must be at least 1"):
        forecast_series(series, 0)
    with pytest.raises(ValueError, match="level must be between"):
        forecast_series(series, 3, level=0)
    with pytest.raises(ValueError, match="unknown ensemble rule"):
        forecast_series(series, 3, rule="vote")
    with pytest.raises(ValueError, match="too few"):
        evaluate_series(series, 7, step=7, windows=12, calibration_windows=12)


def test_monthly_series_is_forecast_on_its_own_calendar() -> None:
    rng = np.random.default_rng(9)
    t = np.arange(96)
    y = 200 + 2 * t + 30 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 3, len(t))
    table = pd.DataFrame({"ds": pd.date_range("2015-01-01", periods=96, freq="MS"), "y": y})
    series = prepare_series(table)
    assert series.seasons == (12,)
    result = forecast_series(series, 6, with_arima=False, with_gbm=False)
    assert list(result.frame["ds"]) == list(pd.date_range("2023-01-01", periods=6, freq="MS"))
    truth = 200 + 2 * np.arange(96, 102) + 30 * np.sin(2 * np.pi * np.arange(96, 102) / 12)
    assert np.abs(result.frame["yhat"].to_numpy() - truth).mean() < 10


def test_a_constant_series_has_nothing_to_backtest() -> None:
    table = pd.DataFrame({"ds": pd.date_range("2020-01-01", periods=900), "y": 3.0})
    with pytest.raises(ValueError, match="constant series"):
        evaluate_series(prepare_series(table), 30)
