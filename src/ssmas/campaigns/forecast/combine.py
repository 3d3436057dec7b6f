"""Combining members into one forecast and calibrating its intervals on backtest residuals.

Rules (``RULES``): ``median`` of the members; ``inverse_mae`` weights, each member weighted by
the inverse of its backtest MAE; ``best``, the single member with the lowest backtest MAE;
``top2``, the mean of the two best; ``stack``, weights on the simplex minimising the backtest's
absolute error. ``auto`` picks the rule with the lowest leave-one-window-out MAE.

Intervals are split-conformal per horizon step: the ensemble's residuals in the calibration
windows (each window's computed with weights learnt without it), divided by a per-step scale (the
step's mean absolute residual, smoothed over neighbouring steps), pooled across steps, and their
quantiles scaled back per step; the interval widens with the horizon as the errors did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ssmas.campaigns.forecast.backtest import Backtest

__all__ = ["RULES", "Calibration", "Ensemble", "combine", "fit_ensemble", "member_weights"]

RULES = ("median", "inverse_mae", "best", "top2", "stack")
# half-width of the per-step smoothing window, at least this many steps and a sixth of the horizon
SMOOTH_STEPS = 2


def member_weights(backtest: Backtest, rule: str) -> np.ndarray:
    """Weights over the members (summing to 1) for a weighted rule; ``median`` has none."""
    k = len(backtest.names)
    if rule == "median":
        return np.full(k, 1.0 / k)
    errors = np.array([backtest.mae(backtest.forecasts[m]) for m in range(k)])
    errors = np.where(np.isfinite(errors), errors, np.inf)
    if rule == "best":
        weights = np.zeros(k)
        weights[int(np.argmin(errors))] = 1.0
        return weights
    if rule == "top2":
        weights = np.zeros(k)
        weights[np.argsort(errors, kind="stable")[: min(2, k)]] = 1.0
        return np.asarray(weights / weights.sum())
    if rule == "stack":
        return _stack(backtest)
    if rule == "inverse_mae":
        inverse = 1.0 / np.maximum(errors, 1e-12)
        if not np.isfinite(inverse).all() or inverse.sum() == 0:
            return np.full(k, 1.0 / k)
        return np.asarray(inverse / inverse.sum())
    raise ValueError(f"unknown ensemble rule {rule!r}; choose from {', '.join(RULES)}")


def _stack(backtest: Backtest) -> np.ndarray:
    """Weights on the simplex that minimise the absolute error over the backtest (a linear
    programme: least absolute deviations with non-negative weights summing to one)."""
    from scipy.optimize import linprog

    k = len(backtest.names)
    x = backtest.forecasts[:, backtest.observed].T  # (points, members)
    y = backtest.actual[backtest.observed]
    n = len(y)
    if n == 0:
        return np.full(k, 1.0 / k)
    # variables: k weights, n positive and n negative deviations
    cost = np.concatenate([np.zeros(k), np.ones(2 * n)])
    equality = np.hstack([x, np.eye(n), -np.eye(n)])
    simplex = np.concatenate([np.ones(k), np.zeros(2 * n)])[None, :]
    result = linprog(
        cost,
        A_eq=np.vstack([equality, simplex]),
        b_eq=np.concatenate([y, [1.0]]),
        bounds=[(0, None)] * (k + 2 * n),
        method="highs",
    )
    if not result.success:
        return np.full(k, 1.0 / k)
    weights = np.clip(result.x[:k], 0, None)
    return np.asarray(weights / weights.sum())


def combine(forecasts: np.ndarray, rule: str, weights: np.ndarray) -> np.ndarray:
    """The ensemble of ``forecasts`` (members first) under ``rule``."""
    if rule == "median":
        return np.asarray(np.median(forecasts, axis=0))
    return np.asarray(np.tensordot(weights, forecasts, axes=1))


def _loo_forecasts(backtest: Backtest, rule: str) -> np.ndarray:
    """Each window's ensemble forecast with weights learnt from the other windows."""
    out = np.empty_like(backtest.actual)
    windows = np.arange(backtest.n_windows)
    for w in windows:
        others = backtest.select(windows[windows != w]) if backtest.n_windows > 1 else backtest
        weights = member_weights(others, rule)
        out[w] = combine(backtest.forecasts[:, w], rule, weights)
    return out


def _local_linear(values: np.ndarray) -> np.ndarray:
    """Each step's value from a straight line fitted to it and its neighbours (``SMOOTH_STEPS``
    or a sixth of the horizon each side): less noisy than one step's errors, and unbiased at the
    ends, where a moving average of growing errors overstates the first steps and understates the
    last."""
    out = values.astype(float).copy()
    steps = np.arange(len(values), dtype=float)
    half = max(SMOOTH_STEPS, len(values) // 6)
    for k in range(len(values)):
        lo, hi = max(0, k - half), min(len(values), k + half + 1)
        if hi - lo >= 3:
            slope, intercept = np.polyfit(steps[lo:hi], values[lo:hi], 1)
            out[k] = slope * k + intercept
    return out


@dataclass(frozen=True)
class Calibration:
    """Per-step scale and pooled quantiles of scaled residuals (``actual - forecast``)."""

    scale: np.ndarray
    scores: np.ndarray

    @classmethod
    def fit(cls, residuals: np.ndarray, observed: np.ndarray) -> Calibration:
        absolute = np.where(observed, np.abs(residuals), np.nan)
        overall = float(np.nanmean(absolute)) if observed.any() else 0.0
        counts = observed.sum(axis=0)
        per_step = np.where(
            counts > 0, np.nansum(absolute, axis=0) / np.maximum(counts, 1), overall
        )
        scale = np.maximum(_local_linear(per_step), max(overall, 1e-12) * 1e-3)
        scores = (residuals / scale)[observed]
        return cls(scale, np.sort(scores))

    def bounds(self, forecast: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ``level``% bounds around ``forecast`` (the first ``len(forecast)``
        steps; steps past the calibrated horizon use the last step's scale)."""
        if not 0 < level < 100:
            raise ValueError(f"level must be between 0 and 100, got {level}")
        n = len(self.scores)
        if n == 0:
            return forecast.copy(), forecast.copy()
        alpha = (100 - level) / 100
        # split-conformal ranks: the (n+1)-corrected order statistics, clipped to the sample
        # (the 1e-9 keeps 20 * 0.1 from flooring to 1 through rounding)
        low_rank = max(1, math.floor((n + 1) * alpha / 2 + 1e-9))
        high_rank = min(n, math.ceil((n + 1) * (1 - alpha / 2) - 1e-9))
        low, high = self.scores[low_rank - 1], self.scores[high_rank - 1]
        steps = np.minimum(np.arange(len(forecast)), len(self.scale) - 1)
        scale = self.scale[steps]
        return forecast + min(low, 0.0) * scale, forecast + max(high, 0.0) * scale


@dataclass(frozen=True)
class Ensemble:
    """A combination rule with its member weights and interval calibration."""

    rule: str
    weights: np.ndarray
    calibration: Calibration
    backtest_mae: float
    rule_maes: dict[str, float]

    def forecast(self, forecasts: np.ndarray) -> np.ndarray:
        return combine(forecasts, self.rule, self.weights)


def fit_ensemble(backtest: Backtest, rule: str) -> Ensemble:
    """Learn the weights and the calibration from ``backtest``'s windows (``rule`` or ``auto``)."""
    candidates = RULES if rule == "auto" else (rule,)
    if rule != "auto" and rule not in RULES:
        raise ValueError(f"unknown ensemble rule {rule!r}; choose from auto, {', '.join(RULES)}")
    loo = {name: _loo_forecasts(backtest, name) for name in candidates}
    maes = {name: backtest.mae(values) for name, values in loo.items()}
    chosen = min(candidates, key=lambda name: (maes[name], candidates.index(name)))
    residuals = backtest.actual - loo[chosen]
    calibration = Calibration.fit(residuals, backtest.observed)
    weights = member_weights(backtest, chosen)
    return Ensemble(chosen, weights, calibration, maes[chosen], maes)
