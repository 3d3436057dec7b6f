"""Split-conformal prediction intervals around any point model's CPM predictions.

Fit on a calibration set the model never trained on: the scores are residuals ``y - y_hat``,
divided by a predicted spread when one is given (normalised conformal, wider where the model is
less sure), and taken per segment when groups are given (Mondrian conformal; small segments fall
back to the global bounds). The finite-sample quantile makes coverage at least the nominal level
on exchangeable data. Scikit-learn style: parameters in ``__init__``, ``fit`` returns ``self``,
learned state ends with ``_``.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
Bounds = tuple[float, float]


class NotFittedError(ValueError):
    """The interval was applied before ``fit``."""


class ConformalInterval:
    """A ``coverage`` prediction interval (80% by default) learned from calibration residuals.

    ``method="absolute"`` gives a symmetric interval from ``|y - y_hat| / spread``;
    ``method="signed"`` takes the lower and upper tails separately, which suits skewed prices.
    """

    def __init__(
        self,
        coverage: float = 0.8,
        *,
        method: Literal["absolute", "signed"] = "absolute",
        min_spread: float = 1e-6,
        min_group_size: int = 50,
        clip_lower: float | None = 0.0,
    ) -> None:
        self.coverage = coverage
        self.method = method
        self.min_spread = min_spread
        self.min_group_size = min_group_size
        self.clip_lower = clip_lower

    def fit(
        self,
        y_true: npt.ArrayLike,
        y_pred: npt.ArrayLike,
        *,
        spread: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
    ) -> Self:
        """Learn the score quantiles from calibration outcomes and predictions."""
        if not 0.0 < self.coverage < 1.0:
            raise ValueError(f"coverage must be strictly between 0 and 1, got {self.coverage}")
        if self.method not in ("absolute", "signed"):
            raise ValueError(f"method must be 'absolute' or 'signed', got {self.method!r}")
        y = _floats(y_true, "y_true")
        pred = _floats(y_pred, "y_pred", size=y.size)
        if y.size == 0:
            raise ValueError("cannot calibrate an interval on zero rows")
        scores = (y - pred) / self._spread(spread, y.size)
        self.normalized_ = spread is not None
        self.n_calibration_ = int(y.size)
        self.bounds_ = self._bounds(scores)
        self.group_bounds_: dict[str, Bounds] = {}
        if groups is not None:
            labels, names = _labels(groups, y.size)
            for code, name in enumerate(names):
                members = scores[labels == code]
                if members.size >= self.min_group_size:
                    self.group_bounds_[name] = self._bounds(members)
        return self

    def predict_interval(
        self,
        y_pred: npt.ArrayLike,
        *,
        spread: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Lower and upper bounds for each prediction (same spread / groups as in ``fit``)."""
        if not hasattr(self, "bounds_"):
            raise NotFittedError("ConformalInterval must be fitted before predict_interval")
        if (spread is not None) != self.normalized_:
            raise ValueError("pass spread to predict_interval exactly when it was passed to fit")
        pred = _floats(y_pred, "y_pred")
        scale = self._spread(spread, pred.size)
        low = np.full(pred.size, self.bounds_[0])
        high = np.full(pred.size, self.bounds_[1])
        if groups is not None and self.group_bounds_:
            labels, names = _labels(groups, pred.size)
            table = np.array(
                [self.group_bounds_.get(name, self.bounds_) for name in names] + [self.bounds_]
            )
            low, high = table[labels, 0], table[labels, 1]
        lower, upper = pred + low * scale, pred + high * scale
        if self.clip_lower is not None:
            lower = np.maximum(lower, self.clip_lower)
            upper = np.maximum(upper, self.clip_lower)
        return lower, upper

    def _spread(self, spread: npt.ArrayLike | None, n: int) -> FloatArray:
        if spread is None:
            return np.ones(n)
        values = _floats(spread, "spread", size=n)
        return np.maximum(values, self.min_spread)

    def _bounds(self, scores: FloatArray) -> Bounds:
        alpha = 1.0 - self.coverage
        if self.method == "absolute":
            q = _upper_quantile(np.abs(scores), 1.0 - alpha)
            return -q, q
        return -_upper_quantile(-scores, 1.0 - alpha / 2), _upper_quantile(scores, 1.0 - alpha / 2)


def _upper_quantile(scores: FloatArray, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest score; infinite when n is too small for the level."""
    n = scores.size
    rank = math.ceil((n + 1) * level)
    if rank > n:
        return math.inf
    return float(np.partition(scores, rank - 1)[rank - 1])


def _floats(values: npt.ArrayLike, name: str, *, size: int | None = None) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if size is not None and array.size != size:
        raise ValueError(f"{name} has {array.size} values, expected {size}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


def _labels(groups: npt.ArrayLike, n: int) -> tuple[npt.NDArray[np.intp], list[str]]:
    values: Any = np.asarray(groups, dtype=object).ravel()
    if values.size != n:
        raise ValueError(f"groups has {values.size} values, expected {n}")
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.intp), [str(u) for u in uniques]
