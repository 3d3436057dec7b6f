"""A streaming anomaly detector for one metric series: a score in [0, 1] per point.

Method (chosen by measurement on NAB, see ``docs/adops.md``): an ensemble of robust scores,
each normalised by its own record, then shaped for alerting.

1. Raw scores per point: robust z (residual against the rolling median, over the MAD, with a
   floor of half the series' mean absolute step so far) at three scales; the same on the mean
   of the last 8, 32 and 128 points (shifts of level or density) and on the mean absolute step
   of the last 32 (a change of noise); and, once 600 points have shown a period
   (autocorrelation), the robust z of the difference to one period before (the seasonal
   baseline).
2. Each raw score is divided by the largest it has been before (that record halving every
   6,000 points, and at least 5): above 1 means "more unusual than anything this series did".
   The first 250 points of a score only teach it.
3. The ensemble is the largest ratio E; an isolated point counts for 90% (persistence over 3
   points); the score is E / (1 + E).
4. After a score above 0.5 (E above 1: a new record), the next 100 points are silent unless
   they beat it; a point shows only when it beats the 5 before it. NAB (and an on-call
   operator) rewards the first detection of an incident and penalises every repeat.

It is causal: a point's score depends only on the points up to it. ``SeriesDetector`` keeps
the state between chunks, and scoring a series in chunks gives the same scores as in one call.
Missing values (NaN) get score 0 and are carried forward as the last value; values before the
first number are skipped. Timestamps are not needed: gaps count as consecutive points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ssmas.adops.detect.parts import (
    DecayedRecord,
    FloatArray,
    MeanShift,
    RobustZ,
    SeasonalDiff,
    Spread,
    find_period,
)

__all__ = ["DetectorConfig", "SeriesDetector", "score_series"]

BLOCK = 100_000  # points per internal step: keeps the decayed record's logs far from overflow


@dataclass(frozen=True)
class DetectorConfig:
    """One configuration for every series (no per-series tuning); the defaults are the tested."""

    scales: tuple[int, ...] = (16, 64, 256)
    shift_spans: tuple[int, ...] = (8, 32, 128)
    shift_window: int = 256
    spread_spans: tuple[int, ...] = (32,)
    season_after: int = 600
    season_max_lag: int = 400
    season_min_acf: float = 0.5
    season_window: int = 256
    scale_floor: float = 0.5
    record_half_life: float = 6000.0
    record_minimum: float = 5.0
    warmup: int = 250
    persistence: int = 3
    isolated_weight: float = 0.9
    rest_points: int = 100
    rest_trigger: float = 0.5
    peak_gap: int = 5

    def __post_init__(self) -> None:
        if min((*self.scales, self.shift_window, self.season_window)) < 10:
            raise ValueError("rolling windows need at least 10 points")
        if min((*self.shift_spans, self.persistence, self.peak_gap)) < 1:
            raise ValueError("spans, persistence and peak gap need at least 1 point")


class SeriesDetector:
    """The detector's state for one series; ``score`` takes the next chunk of values."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = c = config or DetectorConfig()
        self.parts: list[RobustZ | MeanShift | Spread] = [
            RobustZ(w, c.scale_floor) for w in c.scales
        ]
        self.parts += [MeanShift(k, c.shift_window, c.scale_floor) for k in c.shift_spans]
        self.parts += [Spread(k, c.shift_window, c.scale_floor) for k in c.spread_spans]
        self.records = [self._record() for _ in self.parts]
        self.seasonal: SeasonalDiff | None = None
        self.seasonal_record = self._record()
        self.head: list[FloatArray] = []  # the first points, until the period is decided
        self.period_decided = False
        self.count = 0
        self.last_value = float("nan")
        self.recent_ensemble = np.empty(0)
        self.recent_scores = np.empty(0)
        self.rest_until = -1
        self.rest_level = 0.0

    def _record(self) -> DecayedRecord:
        c = self.config
        return DecayedRecord(c.record_half_life, c.record_minimum, c.warmup)

    @property
    def period(self) -> int:
        """The seasonal period in points (0: none found, or not decided yet)."""
        return self.seasonal.period if self.seasonal else 0

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """Scores in [0, 1] for the next values of the series, in order."""
        x = np.asarray(values, dtype=np.float64).ravel()
        out = np.zeros(len(x))
        for first in range(0, len(x), BLOCK):
            out[first : first + BLOCK] = self._score_block(x[first : first + BLOCK])
        return out

    def _score_block(self, x: FloatArray) -> FloatArray:
        missing = ~np.isfinite(x)
        filled: FloatArray = np.asarray(pd.Series(np.where(missing, np.nan, x)).ffill(), np.float64)
        if not np.isnan(self.last_value):
            filled[np.isnan(filled)] = self.last_value
        known = ~np.isnan(filled)  # only a gap before the series' first number stays unknown
        out = np.zeros(len(x))
        if known.any():
            start = int(np.argmax(known))
            out[start:] = self._score_filled(filled[start:])
        out[missing] = 0.0
        return out

    def _score_filled(self, x: FloatArray) -> FloatArray:
        pairs = zip(self.parts, self.records, strict=True)
        ratios = [record.step(part.step(x)) for part, record in pairs]
        seasonal = self._seasonal(x)
        if seasonal is not None:
            ratios.append(seasonal)
        self.count += len(x)
        self.last_value = float(x[-1])
        return self._shape(np.max(ratios, axis=0))

    def _seasonal(self, x: FloatArray) -> FloatArray | None:
        """Seasonal ratios for this chunk once the period is known; None while there is none."""
        c = self.config
        before = self.count
        if not self.period_decided:
            self.head.append(x)
            seen = np.concatenate(self.head)
            if len(seen) < c.season_after:
                return None
            self.period_decided = True
            self.head = []
            period = find_period(seen[: c.season_after], c.season_max_lag, c.season_min_acf)
            if period == 0:
                return None
            self.seasonal = SeasonalDiff(period, c.season_window, c.scale_floor)
            # the seasonal score starts at point season_after; points before it are not scored
            offset = c.season_after - before
            history = seen[c.season_after - period : c.season_after]
            ratios = np.zeros(len(x))
            raw = self.seasonal.step(x[offset:], history)
            ratios[offset:] = self.seasonal_record.step(raw)
            return ratios
        if self.seasonal is None:
            return None
        raw = self.seasonal.step(x, np.empty(0))
        return self.seasonal_record.step(raw)

    def _shape(self, ensemble: FloatArray) -> FloatArray:
        c = self.config
        # persistence: the weakest of the last points, or most of the point alone
        carried = len(self.recent_ensemble)
        joined = np.concatenate((self.recent_ensemble, ensemble))
        weakest = pd.Series(joined).rolling(c.persistence, min_periods=1).min().to_numpy()
        held = np.maximum(weakest[carried:], c.isolated_weight * ensemble)
        self.recent_ensemble = joined[-(c.persistence - 1) :] if c.persistence > 1 else joined[:0]
        score = held / (1.0 + held)
        rested = self._rest(score)
        # a point shows only when it beats the few before it
        carried = len(self.recent_scores)
        joined = np.concatenate((self.recent_scores, rested))
        previous = pd.Series(joined).rolling(c.peak_gap, min_periods=1).max().shift(1)
        previous_max = previous.fillna(0.0).to_numpy()[carried:]
        self.recent_scores = joined[-c.peak_gap :]
        return np.where(rested > previous_max, rested, 0.0)

    def _rest(self, score: FloatArray) -> FloatArray:
        c = self.config
        out = score.copy()
        until, level = self.rest_until, self.rest_level
        first = self.count - len(score)
        for i, value in enumerate(score.tolist()):
            at = first + i
            if at <= until:
                if value > level:
                    level = value
                else:
                    out[i] = 0.0
            elif value > c.rest_trigger:
                until, level = at + c.rest_points, value
        self.rest_until, self.rest_level = until, level
        return out


def score_series(values: npt.ArrayLike, config: DetectorConfig | None = None) -> FloatArray:
    """Scores of a whole series in one call (a fresh :class:`SeriesDetector`)."""
    return SeriesDetector(config).score(values)
