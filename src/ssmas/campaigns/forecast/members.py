"""The ensemble's members: statsforecast's models called on arrays, and which of them a series
gets (chosen by rule from its length and seasonal periods, never tuned to one series).

A member is anything with a ``name`` and ``forecast(y, ds, horizon, freq)``: it sees the training
values (gaps filled) and their timestamps, and returns ``horizon`` point forecasts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = [
    "ArimaMember",
    "EtsMember",
    "Member",
    "MstlMember",
    "NaiveMember",
    "SeasonalNaiveMember",
    "choose_members",
    "long_season_lag",
]

# AutoETS's seasonal models estimate one state per season; statsforecast caps useful periods there
ETS_MAX_SEASON = 24


class Member(Protocol):
    """One forecaster: ``forecast`` returns ``horizon`` finite point forecasts after ``y``."""

    @property
    def name(self) -> str: ...

    def forecast(
        self, y: np.ndarray, ds: pd.DatetimeIndex, horizon: int, freq: str
    ) -> np.ndarray: ...


def _mean(model: Any, y: np.ndarray, horizon: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.forecast(y=np.asarray(y, dtype=float), h=horizon)
    return np.asarray(out["mean"], dtype=float)


def _usable(periods: tuple[int, ...], n: int) -> list[int]:
    return [p for p in periods if n >= 2 * p + 1]


@dataclass(frozen=True)
class NaiveMember:
    """The last value carried forward."""

    name: str = "Naive"

    def forecast(self, y: np.ndarray, ds: pd.DatetimeIndex, horizon: int, freq: str) -> np.ndarray:
        return np.full(horizon, float(y[-1]))


@dataclass(frozen=True)
class SeasonalNaiveMember:
    """The last full season repeated (the scale the MASE-style ratios divide by)."""

    period: int
    name: str = "SeasonalNaive"

    def forecast(self, y: np.ndarray, ds: pd.DatetimeIndex, horizon: int, freq: str) -> np.ndarray:
        if len(y) < self.period:
            return np.full(horizon, float(y[-1]))
        last = np.asarray(y[-self.period :], dtype=float)
        return np.resize(last, horizon)


@dataclass(frozen=True)
class EtsMember:
    """statsforecast's AutoETS on the shortest seasonal period (non-seasonal when it is long)."""

    period: int
    name: str = "AutoETS"

    def forecast(self, y: np.ndarray, ds: pd.DatetimeIndex, horizon: int, freq: str) -> np.ndarray:
        from statsforecast.models import AutoETS

        period = self.period if 1 < self.period <= ETS_MAX_SEASON else 1
        period = period if len(y) >= 2 * period + 2 else 1
        return _mean(AutoETS(season_length=period), y, horizon)


@dataclass(frozen=True)
class ArimaMember:
    """statsforecast's AutoARIMA with a small stepwise search on the recent past: ``window``
    seasons of the shortest period at most (a full search on years of daily data takes ~40 s)."""

    period: int
    window: int
    name: str = "AutoARIMA"

    def forecast(self, y: np.ndarray, ds: pd.DatetimeIndex, horizon: int, freq: str) -> np.ndarray:
        from statsforecast.models import AutoARIMA

        recent = np.asarray(y[-self.window :], dtype=float)
        period = self.period if len(recent) >= 2 * self.period + 2 else 1
        model = AutoARIMA(
            season_length=period,
            approximation=True,
            max_p=2,
            max_q=2,
            max_P=1,
            max_Q=1,
        )
        return _mean(model, recent, horizon)


@dataclass(frozen=True)
class MstlMember:
    """statsforecast's MSTL: every seasonal period with two full cycles in the training data
    (week and year for daily data), the trend forecast by AutoETS without seasonality."""

    periods: tuple[int, ...]
    name: str = "MSTL"

    def forecast(self, y: np.ndarray, ds: pd.DatetimeIndex, horizon: int, freq: str) -> np.ndarray:
        from statsforecast.models import MSTL

        periods = _usable(self.periods, len(y))
        if not periods:
            return EtsMember(1).forecast(y, ds, horizon, freq)
        return _mean(MSTL(season_length=periods), y, horizon)


def long_season_lag(seasons: tuple[int, ...]) -> int | None:
    """The long season rounded to whole short seasons (364 days for daily data: the same weekday
    a year back), or None without two seasons."""
    if len(seasons) < 2:
        return None
    return max(1, round(seasons[1] / seasons[0])) * seasons[0]


def choose_members(
    n: int,
    seasons: tuple[int, ...],
    *,
    horizon: int = 1,
    with_gbm: bool = True,
    with_arima: bool = True,
) -> tuple[list[Member], list[str]]:
    """The members for a series of ``n`` points (the shortest training set of its backtest),
    and messages saying which were left out and why.

    From a quarter of the long season ahead on (about 90 days for daily data) the long season's
    naive joins: that far out, members that carry the recent level forward (ETS, ARIMA, the
    recursive trees) drift, while last year's same weeks are a strong forecast."""
    notes: list[str] = []
    period = seasons[0] if seasons else 1
    members: list[Member] = []
    members.append(SeasonalNaiveMember(period) if period > 1 else NaiveMember())
    if n < 10:
        notes.append(f"{n} training points: too short for fitted models, naive only")
        return members, notes
    members.append(EtsMember(period))
    if with_arima and n >= 30:
        members.append(ArimaMember(period, window=max(104 * period, 200)))
    elif with_arima:
        notes.append(f"AutoARIMA left out: {n} training points, it needs 30")
    if seasons and _usable(seasons, n):
        members.append(MstlMember(seasons))
    elif seasons:
        notes.append(f"MSTL left out: {n} training points are under two seasonal cycles")
    lag = long_season_lag(seasons)
    if lag and horizon >= seasons[1] // 4 and n > lag:
        members.append(SeasonalNaiveMember(lag, name=f"SeasonalNaive{lag}"))
    if with_gbm:
        from ssmas.campaigns.forecast.gbm import GBM_MIN_POINTS, GradientBoostedMember

        if n >= GBM_MIN_POINTS:
            members.append(GradientBoostedMember(seasons))
        else:
            notes.append(f"XGBoost left out: {n} training points, it needs {GBM_MIN_POINTS}")
    return members, notes
