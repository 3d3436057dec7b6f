"""The price level by calendar position: the like-for-like baseline of the retraining trigger.

Clearing prices follow the week (weekends and nights clear lower), so the median price of the
freshest day against the median of all training prices moves every weekend with nothing wrong,
and the price-level trigger retrained the model for it. :class:`PriceLevels` keeps the
training prices' median at four levels of calendar position: weekday and hour, weekday, day
type and hour, day type (weekday or weekend, ISO days 6-7 as the ``is_weekend`` feature).
:func:`price_level_shift` divides each current price by the median of its most specific
position that held at least ``MIN_ROWS`` training prices and takes the median of the ratios,
minus one: about 0 for the usual weekly pattern, +0.2 for every price 20% up. Unchanged, each
position's prices have median 1 after the division, so their mixture does too, whatever the mix
of days and hours.

A row of a day type training never saw (a Saturday against Monday-Wednesday training) has no
reference and counts for nothing; a day with no reference at all is not judged (``shift`` is
``None``) rather than compared with other kinds of day.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

__all__ = ["MIN_ROWS", "PriceLevels", "PriceShift", "build_price_levels", "price_level_shift"]

MIN_ROWS = 30
HOURS = 24
# The levels, most specific first: each a position code per row and how many codes it has.
LEVELS = ("weekday_hour", "weekday", "daytype_hour", "daytype")
SIZES = {"weekday_hour": 7 * HOURS, "weekday": 7, "daytype_hour": 2 * HOURS, "daytype": 2}
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class PriceLevels(BaseModel):
    """Training prices' ``[median, rows]`` per position code of each level (codes: weekday
    0-6 from Monday, hour 0-23, day type 0 weekday / 1 weekend; ``weekday * 24 + hour`` and
    ``daytype * 24 + hour`` for the pairs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekday_hour: dict[int, tuple[float, int]]
    weekday: dict[int, tuple[float, int]]
    daytype_hour: dict[int, tuple[float, int]]
    daytype: dict[int, tuple[float, int]]


class PriceShift(NamedTuple):
    """The relative move of the price level (``None``: no row had a reference) and the share
    of rows that had one."""

    shift: float | None
    referenced_share: float


def _codes(day_of_week: npt.ArrayLike, hour_of_day: npt.ArrayLike) -> dict[str, IntArray]:
    day = np.asarray(day_of_week, dtype=np.int64).ravel() - 1  # ISO 1-7 -> 0-6
    hour = np.asarray(hour_of_day, dtype=np.int64).ravel()
    if day.size and (day.min() < 0 or day.max() > 6 or hour.min() < 0 or hour.max() > 23):
        raise ValueError("day_of_week must be 1-7 and hour_of_day 0-23")
    daytype = (day >= 5).astype(np.int64)
    return {
        "weekday_hour": day * HOURS + hour,
        "weekday": day,
        "daytype_hour": daytype * HOURS + hour,
        "daytype": daytype,
    }


def _prices(price: npt.ArrayLike, n: int) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    values = np.asarray(price, dtype=np.float64).ravel()
    if values.size != n:
        raise ValueError(f"{values.size} prices for {n} calendar positions")
    return values, np.isfinite(values) & (values > 0.0)


def build_price_levels(
    price: npt.ArrayLike, day_of_week: npt.ArrayLike, hour_of_day: npt.ArrayLike
) -> PriceLevels:
    """The medians of the positive prices per position (ISO ``day_of_week``, ``hour_of_day``)."""
    codes = _codes(day_of_week, hour_of_day)
    values, ok = _prices(price, codes["weekday"].size)
    tables: dict[str, dict[int, tuple[float, int]]] = {}
    for level in LEVELS:
        code, y = codes[level][ok], values[ok]
        order = np.argsort(code, kind="stable")
        code, y = code[order], y[order]
        found, starts = np.unique(code, return_index=True)
        groups = np.split(y, starts[1:]) if y.size else []
        tables[level] = {
            int(c): (float(np.median(g)), int(g.size)) for c, g in zip(found, groups, strict=True)
        }
    return PriceLevels(**tables)


def _reference(levels: PriceLevels, codes: dict[str, IntArray], min_rows: int) -> FloatArray:
    """Each row's training median at its most specific position with ``min_rows`` prices."""
    reference = np.full(codes["weekday"].size, np.nan)
    for level in LEVELS:
        table = np.full(SIZES[level], np.nan)
        for code, (median, rows) in getattr(levels, level).items():
            if rows >= min_rows and median > 0.0:
                table[code] = median
        missing = np.isnan(reference)
        reference[missing] = table[codes[level][missing]]
    return reference


def price_level_shift(
    levels: PriceLevels,
    price: npt.ArrayLike,
    day_of_week: npt.ArrayLike,
    hour_of_day: npt.ArrayLike,
    *,
    min_rows: int = MIN_ROWS,
) -> PriceShift:
    """``median(price / training median of the same position) - 1`` over the priced rows that
    have a reference, with the share of priced rows that do (see the module docstring)."""
    codes = _codes(day_of_week, hour_of_day)
    values, ok = _prices(price, codes["weekday"].size)
    reference = _reference(levels, codes, min_rows)
    usable = ok & ~np.isnan(reference)
    priced = int(ok.sum())
    share = float(usable.sum() / priced) if priced else 0.0
    if not usable.any():
        return PriceShift(None, share)
    return PriceShift(float(np.median(values[usable] / reference[usable])) - 1.0, share)
