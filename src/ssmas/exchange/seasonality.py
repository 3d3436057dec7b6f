"""How much traffic arrives when: hour-of-day and day-of-week shapes plus a slow growth trend.

The expected request count of a minute is ``per_day * weekday * trend * hour_share / 60``, with the
hourly shares interpolated across the hour so minute volumes have no steps at hour boundaries.
"""

from __future__ import annotations

from datetime import date

import numpy as np

# Share of a day's requests per UTC hour (Spanish audience: night trough, lunch and prime time).
_HOUR_WEIGHTS = np.array(
    [
        2.2, 1.4, 1.0, 0.8, 0.8, 1.0, 1.8, 3.0,
        4.2, 4.8, 5.0, 5.2, 5.6, 6.0, 5.8, 5.0,
        4.8, 4.9, 5.2, 5.8, 6.4, 6.8, 6.0, 4.0,
    ]
)  # fmt: skip
HOUR_SHARE: np.ndarray = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
# Monday first; averages to one over the week.
WEEKDAY_FACTOR: np.ndarray = np.array([1.02, 1.04, 1.04, 1.03, 0.99, 0.92, 0.96])
WEEKDAY_FACTOR = WEEKDAY_FACTOR / WEEKDAY_FACTOR.mean()
DAILY_GROWTH = 0.0008  # about +34% a year


def day_factor(day: date, start: date) -> float:
    """Volume multiplier of ``day``: weekday shape times growth since the simulation ``start``."""
    elapsed = (day - start).days
    return float(WEEKDAY_FACTOR[day.weekday()] * (1.0 + DAILY_GROWTH) ** elapsed)


def minute_profile() -> np.ndarray:
    """Share of a day's requests in each of its 1440 minutes (sums to one)."""
    centres = np.arange(24) * 60 + 30.0
    minutes = np.arange(1440) + 0.5
    # Periodic interpolation of the hourly rates, then renormalised to the daily total.
    rate = np.interp(
        minutes, np.r_[centres - 1440, centres, centres + 1440], np.tile(HOUR_SHARE, 3)
    )
    return np.asarray(rate / rate.sum())


_MINUTE_SHARE = minute_profile()


def expected_minute_volume(per_day: float, day: date, start: date) -> np.ndarray:
    """Expected requests in each minute of ``day`` (1440 floats)."""
    return np.asarray(per_day * day_factor(day, start) * _MINUTE_SHARE)


def peak_minute_volume(per_day: float) -> float:
    """Expected requests of the busiest minute of a typical day: the capacity planning reference."""
    return float(per_day * WEEKDAY_FACTOR.max() * _MINUTE_SHARE.max())
