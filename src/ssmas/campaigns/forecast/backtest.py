"""Rolling-origin backtests: every member refitted at each origin, forecasts kept per window and
horizon step so the ensemble's weights and intervals can be learnt from them.

Origins are laid out as statsforecast's ``cross_validation`` lays them: the last window ends at
the series' last point, the others ``step`` points earlier each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ssmas.campaigns.forecast.members import Member
from ssmas.campaigns.forecast.series import Series

__all__ = ["Backtest", "Progress", "origins", "run_backtest"]

Progress = Callable[[int, int, str], None]


def origins(n: int, horizon: int, step: int, n_windows: int) -> np.ndarray:
    """Training lengths of the ``n_windows`` windows, oldest first."""
    if horizon < 1 or step < 1 or n_windows < 1:
        raise ValueError("horizon, step and the number of windows must be at least 1")
    last = n - horizon
    lengths = last - step * np.arange(n_windows - 1, -1, -1)
    if lengths[0] < 1:
        raise ValueError(f"{n_windows} windows of {horizon} every {step} need more than {n} points")
    return np.asarray(lengths)


@dataclass(frozen=True)
class Backtest:
    """Member forecasts ``(member, window, step)``, actual values and which of them were observed
    (gap-filled points are never scored)."""

    names: tuple[str, ...]
    train_lengths: np.ndarray
    forecasts: np.ndarray
    actual: np.ndarray
    observed: np.ndarray

    @property
    def n_windows(self) -> int:
        return len(self.train_lengths)

    def member(self, name: str) -> np.ndarray:
        return np.asarray(self.forecasts[self.names.index(name)])

    def select(self, windows: np.ndarray | Sequence[int]) -> Backtest:
        index = np.asarray(windows, dtype=int)
        return Backtest(
            self.names,
            self.train_lengths[index],
            self.forecasts[:, index],
            self.actual[index],
            self.observed[index],
        )

    def mae(self, forecast: np.ndarray) -> float:
        """Mean absolute error of ``forecast`` (``(window, step)``) on the observed points."""
        errors = np.asarray(np.abs(forecast - self.actual)[self.observed])
        return float(errors.mean()) if errors.size else float("nan")


def run_backtest(
    series: Series,
    members: Sequence[Member],
    horizon: int,
    step: int,
    n_windows: int,
    progress: Progress | None = None,
) -> Backtest:
    """Refit every member at every origin and forecast ``horizon`` steps."""
    lengths = origins(len(series), horizon, step, n_windows)
    forecasts = np.empty((len(members), n_windows, horizon))
    actual = np.empty((n_windows, horizon))
    observed = np.empty((n_windows, horizon), dtype=bool)
    total = len(members) * n_windows
    done = 0
    for w, length in enumerate(lengths):
        train = series.head(int(length))
        actual[w] = series.y[length : length + horizon]
        observed[w] = series.observed[length : length + horizon]
        for m, member in enumerate(members):
            if progress is not None:
                progress(done, total, f"window {w + 1}/{n_windows} {member.name}")
            values = member.forecast(train.y, train.ds, horizon, series.freq)
            forecasts[m, w] = _finite(values, train.y)
            done += 1
    if progress is not None:
        progress(total, total, "done")
    return Backtest(tuple(m.name for m in members), lengths, forecasts, actual, observed)


def _finite(values: np.ndarray, history: np.ndarray) -> np.ndarray:
    # a member that diverges (NaN or inf) falls back to the last value rather than poison the mean
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        values = values.copy()
        values[bad] = float(history[-1])
    return values
