"""The stateful pieces of the detector, each fed a chunk at a time.

Every piece gives for a chunk exactly what it would give for those points inside one long call:
it keeps the tail of its input that its rolling windows reach back into and the running sums it
needs, nothing else. Rolling statistics use only earlier points (``shift(1)``), so a point's
value depends on the past and itself alone.
"""

from __future__ import annotations

import bottleneck as bn
import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["DecayedRecord", "MeanShift", "RobustZ", "SeasonalDiff", "find_period"]

FloatArray = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826


class RunningStep:
    """Mean absolute step ``|x[i] - x[i-1]|`` of every earlier point (0 until 10 are seen).

    The reference scale of the floor: the series' typical point-to-point move. Unlike the
    standard deviation of all earlier points, it is not inflated for good by the anomalies
    themselves: a level shift adds one step, not its squared height for every point after it,
    and a few huge spikes add their height once each (L1, not L2).
    """

    def __init__(self) -> None:
        self.count = 0
        self.last = float("nan")
        self.total = 0.0

    def before_each(self, chunk: FloatArray) -> FloatArray:
        if not len(chunk):
            return np.empty(0)
        first = float(chunk[0]) if np.isnan(self.last) else self.last
        steps = np.abs(np.diff(chunk, prepend=first))
        n = self.count + np.arange(len(chunk), dtype=np.float64)  # steps seen before each point
        total = self.total + np.concatenate(([0.0], np.cumsum(steps)[:-1]))
        mean = total / np.maximum(n, 1.0)
        self.count += len(chunk)
        self.total += float(steps.sum())
        self.last = float(chunk[-1])
        return np.where(n >= 10, mean, 0.0)


class RobustZ:
    """``|x - median| / (1.4826 · MAD)`` against the previous ``window`` points.

    The scale has a floor of ``floor`` times the mean absolute step of all earlier points
    (:class:`RunningStep`), so a locally constant stretch does not divide by zero; the score is 0
    until a quarter window is seen.
    """

    def __init__(self, window: int, floor: float) -> None:
        self.window = window
        self.floor = floor
        self.min_points = max(10, window // 4)
        self.tail = np.empty(0)
        self.moments = RunningStep()

    def _previous_median(self, values: FloatArray) -> FloatArray:
        # median of the ``window`` points before each one (NaN until min_points are there)
        if len(values) < self.min_points:
            return np.full(len(values), np.nan)
        # with fewer points than the window, every window reaches back to the first point anyway
        window = min(self.window, len(values))
        median = bn.move_median(values, window, min_count=self.min_points)
        return np.concatenate(([np.nan], median[:-1]))

    def step(self, chunk: FloatArray) -> FloatArray:
        full = np.concatenate((self.tail, chunk))
        dev = np.abs(full - self._previous_median(full))
        mad = self._previous_median(dev)
        k = len(chunk)
        scale = np.nan_to_num(mad[len(full) - k :]) * MAD_TO_SIGMA
        floor = np.maximum(self.floor * self.moments.before_each(chunk), 1e-9)
        z = np.nan_to_num(dev[len(full) - k :]) / np.maximum(scale, floor)
        self.tail = full[-2 * self.window :]
        return z


class MeanShift:
    """Robust z of the mean of the last ``span`` points: a shift of level or of spike density."""

    def __init__(self, span: int, window: int, floor: float) -> None:
        self.span = span
        self.tail = np.empty(0)
        self.z = RobustZ(window, floor)

    def step(self, chunk: FloatArray) -> FloatArray:
        full = np.concatenate((self.tail, chunk))
        means = pd.Series(full).rolling(self.span, min_periods=1).mean().to_numpy()
        self.tail = full[-(self.span - 1) :] if self.span > 1 else np.empty(0)
        return self.z.step(means[len(full) - len(chunk) :])


class Spread:
    """Robust z of the mean absolute step over the last ``span`` points: a change of noise."""

    def __init__(self, span: int, window: int, floor: float) -> None:
        self.last = np.empty(0)
        self.shift = MeanShift(span, window, floor)

    def step(self, chunk: FloatArray) -> FloatArray:
        full = np.concatenate((self.last, chunk))
        steps = np.abs(np.diff(full, prepend=full[0] if len(full) else 0.0))
        self.last = full[-1:]
        return self.shift.step(steps[len(full) - len(chunk) :])


class SeasonalDiff:
    """Robust z of ``x[t] - x[t - period]``, from the point where the period was found on."""

    def __init__(self, period: int, window: int, floor: float) -> None:
        self.period = period
        self.tail = np.empty(0)
        self.z = RobustZ(window, floor)

    def step(self, chunk: FloatArray, history: FloatArray) -> FloatArray:
        """``history``: the points just before ``chunk`` (at least ``period`` of them at first)."""
        full = np.concatenate((self.tail if len(self.tail) else history, chunk))
        diff = full[self.period :] - full[: -self.period]
        self.tail = full[-self.period :]
        return self.z.step(diff[len(diff) - len(chunk) :])


def find_period(values: FloatArray, max_lag: int = 400, min_acf: float = 0.5) -> int:
    """The shortest lag whose autocorrelation peak is within 90% of the best peak above
    ``min_acf``; 0 when there is none (no seasonality)."""
    n = len(values)
    centred = values - values.mean()
    if n < 12 or not np.any(centred):
        return 0
    max_lag = min(max_lag, n // 2)
    spectrum = np.fft.rfft(centred, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: max_lag + 1]
    acf = acf / acf[0]
    lags = np.arange(4, max_lag)
    peaks = lags[(acf[4:max_lag] > acf[3 : max_lag - 1]) & (acf[4:max_lag] >= acf[5 : max_lag + 1])]
    peaks = peaks[acf[peaks] > min_acf]
    if not len(peaks):
        return 0
    return int(peaks[acf[peaks] >= 0.9 * acf[peaks].max()].min())


class DecayedRecord:
    """Ratio of a raw score to the largest earlier one, that record fading with a half-life.

    A point is anomalous for this score when it beats what the series has done before, so a
    spike the series makes every day stops counting once it has been seen. The record is at
    least ``minimum``; the first ``warmup`` points only teach it (ratio 0).
    """

    def __init__(self, half_life: float, minimum: float, warmup: int) -> None:
        self.log_decay = float(np.log(0.5) / half_life)
        self.minimum = minimum
        self.warmup = warmup
        self.record = 1e-12
        self.seen = 0

    def step(self, raw: FloatArray) -> FloatArray:
        seen = self.seen + np.arange(1, len(raw) + 1)
        learning = seen > self.warmup
        r = np.where(learning, raw, 0.0)
        # record before point i: max(record·d^i, max_{j<i} r_j·d^(i-1-j)), in logs to vectorise
        j = np.arange(len(r), dtype=np.float64)
        logs = np.log(np.maximum(r, 1e-12)) - (j + 1) * self.log_decay
        best = np.maximum.accumulate(logs)
        carried = np.log(self.record)
        before = np.concatenate(([-np.inf], best[:-1]))
        log_record = np.maximum(carried, before) + j * self.log_decay
        record = np.maximum(np.exp(log_record), self.minimum)
        ratio = np.where(learning, r / record, 0.0)
        if len(r):
            self.record = float(np.exp(max(carried, best[-1]) + len(r) * self.log_decay))
            self.record = max(self.record, 1e-12)
        self.seen = int(seen[-1]) if len(seen) else self.seen
        return ratio
