"""The gradient-boosted member: XGBoost on lags and calendar features, forecasting one step at a
time and feeding each forecast back as a lag (recursive).

Everything is relative to the local level (the mean of the last short season), so a tree model,
which cannot extrapolate, still follows a series that drifts: the target is ``y[t] - level[t]``,
the lags are ``y[t-k] - level[t]``, and a forecast is the predicted difference plus the level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["GBM_MIN_POINTS", "GradientBoostedMember", "lag_features"]

GBM_MIN_POINTS = 60
# enough rows past the longest lag for the trees to learn something
MIN_TRAIN_ROWS = 40


def _window_mean(cumsum: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    return np.asarray((cumsum[stop] - cumsum[start]) / np.maximum(stop - start, 1))


def _calendar(ds: pd.DatetimeIndex) -> np.ndarray:
    day_of_year = ds.dayofyear.to_numpy(dtype=float)
    angle = 2 * np.pi * day_of_year / 365.25
    return np.column_stack(
        [
            ds.dayofweek.to_numpy(dtype=float),
            ds.hour.to_numpy(dtype=float),
            ds.month.to_numpy(dtype=float),
            np.sin(angle),
            np.cos(angle),
        ]
    )


def lag_features(
    z: np.ndarray, t: np.ndarray, period: int, long_period: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Features for predicting ``z[t]`` from ``z[:t]``, and the level they are relative to.

    Needs ``t >= max_lag(period, long_period)`` for every ``t``.
    """
    cumsum = np.concatenate([[0.0], np.cumsum(z)])
    level = _window_mean(cumsum, t - period, t)
    lags = [1, *range(2, period + 1), 2 * period, 3 * period, 4 * period]
    columns = [z[t - k] - level for k in sorted(set(lags))]
    columns.append(_window_mean(cumsum, t - 4 * period, t) - level)
    if long_period:
        base = t - long_period
        before = _window_mean(cumsum, base - period, base)
        columns.append(z[base] - before)
        columns.append(_window_mean(cumsum, base, base + period) - before)
    return np.column_stack(columns), level


def max_lag(period: int, long_period: int | None) -> int:
    return max(4 * period, (long_period + period) if long_period else 0)


@dataclass(frozen=True)
class GradientBoostedMember:
    """XGBoost (absolute-error objective, one thread) on relative lags and the calendar."""

    seasons: tuple[int, ...]
    n_estimators: int = 300
    name: str = "XGBoost"

    def _periods(self, n: int) -> tuple[int, int | None]:
        period = self.seasons[0] if self.seasons else 4
        period = max(2, min(period, n // 8))
        long_period = self.seasons[1] if len(self.seasons) > 1 else None
        if long_period and n - max_lag(period, long_period) < MIN_TRAIN_ROWS * 5:
            long_period = None
        return period, long_period

    def forecast(self, y: np.ndarray, ds: pd.DatetimeIndex, horizon: int, freq: str) -> np.ndarray:
        import xgboost as xgb

        y = np.asarray(y, dtype=float)
        n = len(y)
        period, long_period = self._periods(n)
        first = max_lag(period, long_period)
        if n - first < MIN_TRAIN_ROWS:
            return np.full(horizon, float(np.mean(y[-period:])))
        future = pd.date_range(ds[-1], periods=horizon + 1, freq=freq)[1:]
        calendar = _calendar(pd.DatetimeIndex(ds.append(future)))
        rows = np.arange(first, n)
        lags, level = lag_features(y, rows, period, long_period)
        features = np.column_stack([lags, calendar[rows]])
        model = xgb.XGBRegressor(
            n_estimators=self.n_estimators,
            learning_rate=0.05,
            max_depth=5,
            min_child_weight=5,
            subsample=0.8,
            colsample_bytree=0.8,
            objective="reg:absoluteerror",
            tree_method="hist",
            n_jobs=1,
            random_state=0,
        )
        model.fit(features, y[rows] - level)
        booster = model.get_booster()
        z = np.concatenate([y, np.zeros(horizon)])
        for step in range(horizon):
            t = np.array([n + step])
            lag_row, level_t = lag_features(z[: n + step + 1], t, period, long_period)
            row = np.column_stack([lag_row, calendar[t]])
            z[n + step] = float(booster.inplace_predict(row)[0]) + float(level_t[0])
        return z[n:]
