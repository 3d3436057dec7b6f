"""Hour-of-week profile + trend forecast of a service's hourly load, with prediction intervals.

The model, in logs: ``log y_t = a + b * t + s[how(t)] + e_t`` where ``t`` counts hours, ``how``
is the hour of the week (Monday 00:00 UTC = 0, ..., Sunday 23:00 = 167) and the 168 profile terms
sum to zero. It is fitted by least squares on the history (gaps allowed, every hour of the week
must be seen at least once; the trend needs every hour twice); the point forecast is
``exp(a + b t + s[how])`` and the interval bounds multiply it by the empirical quantiles of the
leave-one-out residuals ``e`` (a multiplicative interval, as wide in relative terms at the trough
as at the peak).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

HOURS_PER_WEEK = 168
FLOOR = 1e-3  # the smallest load the model takes logs of
_EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)  # the first Monday of the Unix epoch


class ForecastError(ValueError):
    """The history cannot be fitted (too short, an hour of the week never seen, bad values)."""


def hour_index(at: datetime) -> int:
    """Whole hours from the epoch's first Monday to ``at`` (naive datetimes are UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int((at - _EPOCH_MONDAY).total_seconds() // 3600)


def hour_of_week(at: datetime) -> int:
    """0 for Monday 00:00-00:59 UTC, ..., 167 for Sunday 23:00-23:59."""
    return hour_index(at) % HOURS_PER_WEEK


def hour_start(index: int) -> datetime:
    """The UTC start of the hour ``index`` (inverse of :func:`hour_index`)."""
    return _EPOCH_MONDAY + timedelta(hours=index)


@dataclass(frozen=True)
class Forecast:
    """Point forecast and interval bounds of consecutive hours from ``start``."""

    start: datetime
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float

    def hours(self) -> list[datetime]:
        return [self.start + timedelta(hours=i) for i in range(len(self.point))]


@dataclass(frozen=True)
class HourOfWeekModel:
    """A fitted model: level ``a``, hourly log trend ``b``, the 168 profile terms and residuals."""

    level: float
    trend_per_hour: float
    profile: np.ndarray  # [168] log terms, sum zero
    residuals: np.ndarray  # in-sample log residuals
    origin: int  # hour index that t = 0 refers to
    last: int  # hour index of the last observation

    @property
    def multiplicative_profile(self) -> np.ndarray:
        """The profile as factors whose geometric mean is one."""
        return np.asarray(np.exp(self.profile))

    @property
    def weekly_growth(self) -> float:
        """Relative growth over one week implied by the trend."""
        return float(np.expm1(self.trend_per_hour * HOURS_PER_WEEK))

    def predict(self, start: datetime, hours: int, level: float = 0.95) -> Forecast:
        """Forecast ``hours`` consecutive hours from ``start`` with a central ``level`` interval."""
        if hours < 1:
            raise ForecastError("hours must be at least 1")
        if not 0.0 < level < 1.0:
            raise ForecastError("interval level must be between 0 and 1")
        first = hour_index(start)
        idx = np.arange(first, first + hours)
        log_point = (
            self.level
            + self.trend_per_hour * (idx - self.origin)
            + self.profile[idx % HOURS_PER_WEEK]
        )
        point = np.exp(log_point)
        if self.residuals.size:
            tail = (1.0 - level) / 2.0
            lo, hi = np.quantile(self.residuals, [tail, 1.0 - tail], method="higher")
        else:
            lo = hi = 0.0
        return Forecast(
            start=hour_start(first),
            point=point,
            lower=point * np.exp(min(lo, 0.0)),
            upper=point * np.exp(max(hi, 0.0)),
            level=level,
        )


def fit(hours: np.ndarray, values: np.ndarray, *, trend: bool = True) -> HourOfWeekModel:
    """Fit the model to ``values`` observed at hour indices ``hours`` (:func:`hour_index`).

    Values below ``FLOOR`` are raised to it before taking logs (an idle hour has a tiny load).
    """
    hours = np.asarray(hours, dtype=np.int64)
    y = np.asarray(values, dtype=np.float64)
    if hours.shape != y.shape or hours.ndim != 1:
        raise ForecastError("hours and values must be two sequences of the same length")
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ForecastError("values must be finite and non-negative")
    if np.unique(hours).size != hours.size:
        raise ForecastError("an hour appears twice in the history")
    how = hours % HOURS_PER_WEEK
    seen = np.bincount(how, minlength=HOURS_PER_WEEK)
    if np.any(seen == 0):
        missing = int(np.sum(seen == 0))
        raise ForecastError(
            f"the history misses {missing} of the 168 hours of the week: give at least a week"
        )
    origin = int(hours.min())
    # A trend needs two of each hour of the week to be told apart from the profile.
    trend = trend and bool(np.all(seen >= 2))
    t = (hours - origin).astype(np.float64)
    log_y = np.log(np.maximum(y, FLOOR))
    count = seen.astype(np.float64)
    # Least squares with one intercept per hour of the week and a common slope, in closed form
    # (Frisch-Waugh): the slope from values and times centred within each hour of the week.
    mean_y = np.bincount(how, weights=log_y, minlength=HOURS_PER_WEEK) / count
    mean_t = np.bincount(how, weights=t, minlength=HOURS_PER_WEEK) / count
    slope = 0.0
    if trend:
        dt = t - mean_t[how]
        slope = float(np.dot(dt, log_y - mean_y[how]) / np.dot(dt, dt))
    seasonal = mean_y - slope * mean_t
    level = float(seasonal.mean())
    fitted = seasonal[how] + slope * t
    # Leave-one-out residuals: a fitted profile term has seen its own hour, so the in-sample
    # residual understates the error of a new hour by (n-1)/n for an hour of the week seen n times.
    n_how = count[how]
    residuals = ((log_y - fitted) * n_how / np.maximum(n_how - 1.0, 1.0))[n_how > 1]
    return HourOfWeekModel(
        level=level,
        trend_per_hour=slope,
        profile=np.asarray(seasonal - level),
        residuals=np.asarray(residuals),
        origin=origin,
        last=int(hours.max()),
    )
