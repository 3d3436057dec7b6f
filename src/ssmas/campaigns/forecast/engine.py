"""The forecasting service: ``forecast_series`` (members backtested on the recent past, combined,
intervals calibrated on that backtest) and ``evaluate_series`` (an honest rolling-origin score:
each scored window's weights and intervals learnt only from windows that ended before it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ssmas.campaigns.forecast.backtest import Backtest, Progress, run_backtest
from ssmas.campaigns.forecast.combine import RULES, Ensemble, combine, fit_ensemble
from ssmas.campaigns.forecast.members import Member, choose_members
from ssmas.campaigns.forecast.series import Series

__all__ = ["Evaluation", "ForecastResult", "evaluate_series", "forecast_series", "plan_windows"]

MAX_WINDOWS = 12
# the mean of the two members with the lowest backtest MAE: on the benchmark's backtest it beat
# the median, inverse-MAE weights, the best member, LAD stacking and picking a rule per series
# (auto, noisy with few windows); simple averages of a few good forecasts are the robust choice
DEFAULT_RULE = "top2"
MIN_WINDOWS = 2


@dataclass(frozen=True)
class ForecastResult:
    """The forecast table (``ds, yhat, yhat_lower, yhat_upper``) and how it was made; ``windows``
    is the number of backtest windows the weights and intervals were learnt from (0: none)."""

    frame: pd.DataFrame
    level: float
    rule: str
    weights: dict[str, float]
    windows: int = 0
    step: int = 0
    backtest_mae: float | None = None
    naive_mae: float | None = None
    member_mae: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @property
    def calibrated(self) -> bool:
        return self.windows > 0


def _check(horizon: int, level: float, rule: str) -> None:
    if rule != "auto" and rule not in RULES:
        raise ValueError(f"unknown ensemble rule {rule!r}; choose from auto, {', '.join(RULES)}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    if not 0 < level < 100:
        raise ValueError(f"level must be between 0 and 100 (exclusive), got {level}")


def plan_windows(n: int, horizon: int, max_windows: int = MAX_WINDOWS) -> tuple[int, int]:
    """``(step, windows)`` for the calibration backtest: origins ``horizon`` apart (closer when
    the series is short), every training part at least half the series, at most ``max_windows``."""
    spare = n - horizon - max(n // 2, 10)
    if spare < 0:
        return horizon, 0
    step = min(horizon, max(1, spare // max(max_windows - 1, 1)))
    return step, min(max_windows, spare // step + 1)


def _frame(
    ds: pd.DatetimeIndex, yhat: np.ndarray, low: np.ndarray, high: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame({"ds": ds, "yhat": yhat, "yhat_lower": low, "yhat_upper": high})


def _constant(series: Series, horizon: int, level: float) -> ForecastResult:
    value = float(series.y[series.observed][0])
    values = np.full(horizon, value)
    frame = _frame(series.future_ds(horizon), values, values, values)
    note = "constant series: the forecast is that constant and the interval has zero width"
    return ForecastResult(frame, level, "constant", {"Constant": 1.0}, notes=(*series.notes, note))


def _uncalibrated(
    series: Series, members: list[Member], horizon: int, level: float, notes: list[str]
) -> ForecastResult:
    # too short to backtest: the median of the members, intervals from the in-sample naive
    # one-step errors growing as a random walk's (sqrt of the step), said to be uncalibrated
    forecasts = np.array([m.forecast(series.y, series.ds, horizon, series.freq) for m in members])
    yhat = np.median(forecasts, axis=0)
    diffs = np.abs(np.diff(series.y[series.observed])) if series.n_observed > 1 else np.zeros(1)
    sigma = float(np.mean(diffs)) * np.sqrt(np.pi / 2)
    z = float(stats.norm.ppf(0.5 + level / 200))
    half = z * sigma * np.sqrt(np.arange(1, horizon + 1))
    frame = _frame(series.future_ds(horizon), yhat, yhat - half, yhat + half)
    notes.append(
        f"{len(series)} points: too short to backtest a horizon of {horizon}; "
        "median of the members, intervals from naive one-step errors (not calibrated)"
    )
    names = tuple(m.name for m in members)
    weights = {name: 1.0 / len(names) for name in names}
    return ForecastResult(frame, level, "median", weights, notes=tuple(notes))


def forecast_series(
    series: Series,
    horizon: int,
    level: float = 80.0,
    *,
    rule: str = DEFAULT_RULE,
    max_windows: int = MAX_WINDOWS,
    with_arima: bool = True,
    with_gbm: bool = True,
    progress: Progress | None = None,
) -> ForecastResult:
    """Forecast ``horizon`` steps after the series with ``level``% intervals."""
    _check(horizon, level, rule)
    observed = series.y[series.observed]
    if float(np.ptp(observed)) == 0.0:
        return _constant(series, horizon, level)
    notes = list(series.notes)
    step, windows = plan_windows(len(series), horizon, max_windows)
    shortest = len(series) - horizon - step * (windows - 1) if windows else len(series)
    members, member_notes = choose_members(
        shortest, series.seasons, horizon=horizon, with_gbm=with_gbm, with_arima=with_arima
    )
    notes += member_notes
    if windows < MIN_WINDOWS:
        return _uncalibrated(series, members, horizon, level, notes)
    backtest = run_backtest(series, members, horizon, step, windows, progress)
    ensemble = fit_ensemble(backtest, rule)
    # only members the ensemble uses are refitted on the whole series (top2: two of them)
    used = ensemble.rule == "median" or ensemble.weights > 0
    final = np.zeros((len(members), horizon))
    for index in np.flatnonzero(np.broadcast_to(used, (len(members),))):
        member = members[index]
        final[index] = member.forecast(series.y, series.ds, horizon, series.freq)
    final = np.where(np.isfinite(final), final, float(series.y[-1]))
    yhat = ensemble.forecast(final)
    low, high = ensemble.calibration.bounds(yhat, level)
    names = backtest.names
    return ForecastResult(
        _frame(series.future_ds(horizon), yhat, low, high),
        level,
        ensemble.rule,
        {name: float(w) for name, w in zip(names, ensemble.weights, strict=True)},
        windows=windows,
        step=step,
        backtest_mae=ensemble.backtest_mae,
        naive_mae=backtest.mae(backtest.forecasts[0]),
        member_mae={name: backtest.mae(backtest.member(name)) for name in names},
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class Evaluation:
    """Scores of a rolling-origin backtest over the last ``windows`` origins.

    ``mase_vs_naive``: the ensemble's MAE over the scored windows divided by the seasonal naive's
    MAE (naive when the series has no season) over the same windows and points.
    """

    horizon: int
    step: int
    windows: int
    level: float
    ensemble_mae: float
    naive_name: str
    naive_mae: float
    member_mae: dict[str, float]
    rule_mae: dict[str, float]
    coverage: float
    rule_coverage: dict[str, float]
    rules_chosen: tuple[str, ...]
    forecast: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    actual: np.ndarray
    observed: np.ndarray
    cutoffs: tuple[pd.Timestamp, ...]

    @property
    def mase_vs_naive(self) -> float:
        return self.ensemble_mae / self.naive_mae if self.naive_mae > 0 else float("nan")


def _score(backtest: Backtest, calib: int, level: float, rule: str) -> tuple[np.ndarray, ...]:
    """Each scored window's ensemble forecast and bounds, learnt from earlier windows only."""
    scored = backtest.n_windows - calib
    forecast = np.empty((scored, backtest.actual.shape[1]))
    lower, upper = np.empty_like(forecast), np.empty_like(forecast)
    chosen: list[str] = []
    horizon = backtest.actual.shape[1]
    for i in range(scored):
        w = calib + i
        ended = np.flatnonzero(backtest.train_lengths + horizon <= backtest.train_lengths[w])
        ensemble: Ensemble = fit_ensemble(backtest.select(ended[-calib:]), rule)
        forecast[i] = combine(backtest.forecasts[:, w], ensemble.rule, ensemble.weights)
        lower[i], upper[i] = ensemble.calibration.bounds(forecast[i], level)
        chosen.append(ensemble.rule)
    return forecast, lower, upper, np.array(chosen)


def evaluate_series(
    series: Series,
    horizon: int,
    *,
    step: int = 30,
    windows: int = 12,
    calibration_windows: int = 12,
    level: float = 80.0,
    rule: str = DEFAULT_RULE,
    with_arima: bool = True,
    with_gbm: bool = True,
    progress: Progress | None = None,
) -> Evaluation:
    """Score the ensemble on the last ``windows`` origins (``step`` apart, ``horizon`` ahead);
    each one's weights and intervals come from the ``calibration_windows`` before it."""
    _check(horizon, level, rule)
    if float(np.ptp(series.y[series.observed])) == 0.0:
        raise ValueError("constant series: every forecaster is exact, there is nothing to score")
    needed = step * (windows + calibration_windows - 1) + horizon
    if len(series) - needed < max(10, 2 * (series.seasons[0] if series.seasons else 1)):
        raise ValueError(
            f"{len(series)} points are too few for {windows} scored and {calibration_windows} "
            f"calibration windows of {horizon} every {step}"
        )
    total = windows + calibration_windows
    members, _ = choose_members(
        len(series) - needed,
        series.seasons,
        horizon=horizon,
        with_gbm=with_gbm,
        with_arima=with_arima,
    )
    backtest = run_backtest(series, members, horizon, step, total, progress)
    scored = backtest.select(np.arange(calibration_windows, total))
    outcomes = {name: _score(backtest, calibration_windows, level, name) for name in RULES}
    outcomes["auto"] = _score(backtest, calibration_windows, level, "auto")
    forecast, lower, upper, chosen = outcomes[rule]

    def coverage(low: np.ndarray, high: np.ndarray) -> float:
        inside = (scored.actual >= low) & (scored.actual <= high)
        return float(inside[scored.observed].mean())

    cutoffs = tuple(series.ds[int(length) - 1] for length in scored.train_lengths)
    return Evaluation(
        horizon=horizon,
        step=step,
        windows=windows,
        level=level,
        ensemble_mae=scored.mae(forecast),
        naive_name=backtest.names[0],
        naive_mae=scored.mae(scored.forecasts[0]),
        member_mae={name: scored.mae(scored.member(name)) for name in backtest.names},
        rule_mae={name: scored.mae(out[0]) for name, out in outcomes.items()},
        coverage=coverage(lower, upper),
        rule_coverage={name: coverage(out[1], out[2]) for name, out in outcomes.items()},
        rules_chosen=tuple(str(c) for c in chosen),
        forecast=forecast,
        lower=lower,
        upper=upper,
        actual=scored.actual,
        observed=scored.observed,
        cutoffs=cutoffs,
    )
