"""A ``ds,y`` table turned into a regular series: frequency detected from ``ds``, gaps put back
on the grid (filled for fitting, marked unobserved for scoring), seasonal periods chosen by rule.

Every refusal is a :class:`SeriesError` whose message is one line a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "MIN_POINTS",
    "Series",
    "SeriesError",
    "detect_frequency",
    "prepare_series",
    "read_series_csv",
    "seasonal_periods",
]

MIN_POINTS = 5
DAY_NS = 86_400 * 10**9


class SeriesError(ValueError):
    """The input cannot be read as a forecastable series; the message says why in one line."""


@dataclass(frozen=True)
class Series:
    """A series on a regular grid: ``y`` is filled at gaps, ``observed`` marks the real points."""

    ds: pd.DatetimeIndex
    y: np.ndarray
    observed: np.ndarray
    freq: str
    seasons: tuple[int, ...]
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_observed(self) -> int:
        return int(self.observed.sum())

    def future_ds(self, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` timestamps after the last one, on the same grid."""
        return pd.date_range(self.ds[-1], periods=horizon + 1, freq=self.freq)[1:]

    def head(self, length: int) -> Series:
        """The first ``length`` points (a backtest's training part)."""
        return Series(
            self.ds[:length],
            self.y[:length],
            self.observed[:length],
            self.freq,
            self.seasons,
            self.notes,
        )


def read_series_csv(path: Path | str) -> pd.DataFrame:
    """Read a CSV with ``ds`` and ``y`` columns (others ignored)."""
    path = Path(path)
    if not path.is_file():
        raise SeriesError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SeriesError(f"{path.name} is not a readable CSV: {first}") from None
    return frame


def _month_anchor(ds: pd.DatetimeIndex, start: str, end: str) -> str:
    if bool(ds.is_month_start.all()):
        return start
    if bool(ds.is_month_end.all()):
        return end
    raise SeriesError(
        "dates about a month apart but not all on the first or the last day of the month"
    )


def detect_frequency(ds: pd.DatetimeIndex) -> str:
    """The grid's pandas frequency: ``pd.infer_freq`` when the dates have no gaps, else the most
    common step (calendar months, quarters and years recognised by their anchors)."""
    if len(ds) >= 3:
        inferred = pd.infer_freq(ds)
        if inferred is not None:
            return inferred
    steps = np.diff(ds.asi8)
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    days = step / DAY_NS
    if 28 <= days <= 31:
        return _month_anchor(ds, "MS", "ME")
    if 89 <= days <= 92:
        return _month_anchor(ds, "QS", "QE")
    if 365 <= days <= 366:
        return _month_anchor(ds, "YS", "YE")
    offset = pd.tseries.frequencies.to_offset(pd.Timedelta(step, unit="ns"))
    return str(offset.freqstr)


def _period_seconds(ds: pd.DatetimeIndex) -> float:
    # the median step: calendar months and years come out at their usual length
    return float(np.median(np.diff(ds.asi8))) / 1e9 if len(ds) >= 2 else 86_400.0


def seasonal_periods(freq: str, ds: pd.DatetimeIndex, n: int) -> tuple[int, ...]:
    """Seasonal periods by rule: the day and the week for sub-daily data, the week and the year
    for daily, the year for weekly, monthly and quarterly; kept with two full cycles of data."""
    step = _period_seconds(ds)
    day, week, year = 86_400.0, 7 * 86_400.0, 365.25 * 86_400.0
    if step < day:
        candidates = [day / step, week / step]
    elif step < week:
        candidates = [week / step, year / step]
    else:
        candidates = [year / step]
    periods: list[int] = []
    for candidate in candidates:
        period = round(candidate)
        # a period must be a whole number of steps and fit twice in the data
        whole = abs(candidate - period) < 0.05 * candidate
        if period >= 2 and whole and n >= 2 * period and period not in periods:
            periods.append(period)
    return tuple(periods)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    if name not in lowered:
        have = ", ".join(str(c) for c in frame.columns[:6]) or "none"
        raise SeriesError(f"missing column {name!r} (columns: {have}); the CSV needs ds,y")
    return frame[lowered[name]]


def prepare_series(frame: pd.DataFrame) -> Series:
    """Validate a ``ds,y`` frame and put it on a regular grid.

    Unparseable dates or values are refused; duplicate timestamps are averaged; rows whose ``y``
    is empty count as gaps; gaps are filled by linear interpolation for fitting only.
    """
    ds_raw = _column(frame, "ds")
    y_raw = _column(frame, "y")
    try:
        ds = pd.to_datetime(ds_raw, errors="raise", format="mixed")
    except (ValueError, TypeError) as exc:
        raise SeriesError(f"column ds has values that are not dates ({exc})") from None
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    y = pd.to_numeric(y_raw, errors="coerce")
    bad = y.isna() & y_raw.notna() & (y_raw.astype(str).str.strip() != "")
    if bool(bad.any()):
        example = y_raw[bad].iloc[0]
        raise SeriesError(f"column y has {int(bad.sum())} non-numeric value(s), e.g. {example!r}")
    if bool(ds.isna().any()):
        raise SeriesError(f"column ds has {int(ds.isna().sum())} empty value(s)")
    y = y.where(np.isfinite(y))
    notes: list[str] = []
    table = pd.DataFrame({"ds": ds, "y": y})
    if table["ds"].duplicated().any():
        notes.append(f"{int(table['ds'].duplicated().sum())} duplicate timestamp(s) averaged")
    per_ds = table.groupby("ds", sort=True)["y"].mean()
    observed_points = per_ds.dropna()
    if len(observed_points) < MIN_POINTS:
        raise SeriesError(
            f"the series has {len(observed_points)} observed point(s); "
            f"at least {MIN_POINTS} are needed to forecast"
        )
    index = pd.DatetimeIndex(observed_points.index)
    freq = detect_frequency(index)
    grid = pd.date_range(index[0], index[-1], freq=freq)
    if not index.isin(grid).all():
        raise SeriesError(f"timestamps are not on one regular grid (detected frequency {freq})")
    if len(grid) > 50 * len(index):
        raise SeriesError(f"the {freq} grid would be more than 98% gaps; check the ds column")
    values = observed_points.reindex(grid)
    observed = values.notna().to_numpy()
    gaps = int((~observed).sum())
    if gaps:
        notes.append(f"{gaps} missing point(s) on the {freq} grid filled for fitting, not scored")
    filled = values.interpolate(method="linear", limit_direction="both").to_numpy(dtype=float)
    seasons = seasonal_periods(freq, grid, len(grid))
    return Series(grid, filled, observed, freq, seasons, tuple(notes))
