"""Input distributions for ROI simulation: one small frozen type that both samples (vectorised,
from a seeded numpy generator, for Monte Carlo) and gives exact quantiles (for the tornado).

A campaign's inputs are uncertain in different ways: costs and values are positive and skewed
(lognormal, fitted from a mean and a standard deviation), conversion rates live in [0, 1] (beta,
fitted the same way), and a planner's guess is often "between a and b, most likely c"
(triangular). Every constructor refuses parameters that describe no distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

__all__ = ["Dist", "RoiInputError"]

Kind = Literal["fixed", "normal", "lognormal", "beta", "uniform", "triangular"]


class RoiInputError(ValueError):
    """ROI inputs that cannot be simulated or optimised; the message says why in one line."""


def _finite(name: str, *values: float) -> None:
    for value in values:
        if not math.isfinite(value):
            raise RoiInputError(f"{name}: parameters must be finite numbers, got {value!r}")


@dataclass(frozen=True, slots=True)
class Dist:
    """One uncertain input; build it with a constructor (``Dist.lognormal(mean, sd)``, ...)."""

    kind: Kind
    a: float
    b: float = 0.0
    c: float = 0.0

    @staticmethod
    def fixed(value: float) -> Dist:
        """A known value (no uncertainty)."""
        _finite("fixed", value)
        return Dist("fixed", float(value))

    @staticmethod
    def normal(mean: float, sd: float) -> Dist:
        """Normal with this mean and standard deviation."""
        _finite("normal", mean, sd)
        if sd < 0:
            raise RoiInputError(f"normal: sd must be >= 0, got {sd}")
        return Dist("normal", float(mean), float(sd))

    @staticmethod
    def lognormal(mean: float, sd: float) -> Dist:
        """Lognormal with this mean and standard deviation (moment-matched; positive, skewed)."""
        _finite("lognormal", mean, sd)
        if mean <= 0 or sd < 0:
            raise RoiInputError(f"lognormal: needs mean > 0 and sd >= 0, got {mean}, {sd}")
        sigma2 = math.log1p((sd / mean) ** 2)
        return Dist("lognormal", math.log(mean) - sigma2 / 2, math.sqrt(sigma2))

    @staticmethod
    def beta(mean: float, sd: float) -> Dist:
        """Beta on [0, 1] with this mean and standard deviation (a rate, e.g. conversion)."""
        _finite("beta", mean, sd)
        if not 0 < mean < 1 or sd <= 0 or sd**2 >= mean * (1 - mean):
            raise RoiInputError(
                f"beta: needs 0 < mean < 1 and 0 < sd < sqrt(mean(1-mean)), got {mean}, {sd}"
            )
        k = mean * (1 - mean) / sd**2 - 1
        return Dist("beta", mean * k, (1 - mean) * k)

    @staticmethod
    def uniform(low: float, high: float) -> Dist:
        """Uniform on [low, high]."""
        _finite("uniform", low, high)
        if high < low:
            raise RoiInputError(f"uniform: needs low <= high, got {low}, {high}")
        return Dist("uniform", float(low), float(high))

    @staticmethod
    def triangular(low: float, mode: float, high: float) -> Dist:
        """Triangular: between ``low`` and ``high``, most likely ``mode``."""
        _finite("triangular", low, mode, high)
        if not low <= mode <= high or low == high:
            raise RoiInputError(
                f"triangular: needs low <= mode <= high and low < high, got {low}, {mode}, {high}"
            )
        return Dist("triangular", float(low), float(mode), float(high))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws as a float array."""
        if self.kind == "fixed":
            return np.full(n, self.a)
        if self.kind == "normal":
            return rng.normal(self.a, self.b, n)
        if self.kind == "lognormal":
            return rng.lognormal(self.a, self.b, n)
        if self.kind == "beta":
            return rng.beta(self.a, self.b, n)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, n)
        return rng.triangular(self.a, self.b, self.c, n)

    def ppf(self, q: float) -> float:
        """The ``q`` quantile (0 < q < 1), exact."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "normal":
            return float(stats.norm.ppf(q, self.a, self.b))
        if self.kind == "lognormal":
            return float(math.exp(self.a + self.b * stats.norm.ppf(q)))
        if self.kind == "beta":
            return float(stats.beta.ppf(q, self.a, self.b))
        if self.kind == "uniform":
            return self.a + q * (self.b - self.a)
        span = self.c - self.a
        shape = (self.b - self.a) / span
        return float(stats.triang.ppf(q, shape, loc=self.a, scale=span))

    def mean(self) -> float:
        """The distribution's mean."""
        if self.kind in ("fixed", "normal"):
            return self.a
        if self.kind == "lognormal":
            return math.exp(self.a + self.b**2 / 2)
        if self.kind == "beta":
            return self.a / (self.a + self.b)
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        return (self.a + self.b + self.c) / 3
