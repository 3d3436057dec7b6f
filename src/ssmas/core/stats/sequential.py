"""Always-valid confidence sequences, so a comparison can be looked at as often as one likes.

A fixed-horizon interval checked repeatedly and stopped at the first significant look is wrong far
more often than its alpha says. A confidence sequence covers the true difference at every look at
once with probability ``1 - alpha``: this is the two-sided normal-mixture boundary of Howard et
al. (2021), in the asymptotic form of Waudby-Smith et al. (2023, eq. 9) that GrowthBook's
sequential engine uses. The mixing parameter is tuned for the total sample size (both arms) at
which the sequence should be tightest (``tuning``); the always-valid p-value is the inverse of the
mixture e-value. Campaigns' experiments and pricing's model promotion both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


def mixture_rho(alpha: float, tuning: float) -> float:
    """The mixing parameter that makes the sequence tightest near ``tuning`` total units."""
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    if not tuning > 0:
        raise ValueError(f"the tuning sample size must be positive, got {tuning!r}")
    log_term = -2.0 * np.log(alpha)
    return float(np.sqrt((log_term + np.log(log_term + 1.0)) / tuning))


def halfwidth(
    variance: ArrayLike, n_total: ArrayLike, *, alpha: float = 0.05, tuning: float = 5000.0
) -> NDArray[np.float64]:
    """The sequence's half-width for an estimate of ``variance`` from ``n_total`` units.

    Vectorised over both arguments. ``variance * n_total`` is the per-unit variance.
    """
    rho2 = mixture_rho(alpha, tuning) ** 2
    v = np.asarray(variance, dtype=float)
    n = np.asarray(n_total, dtype=float)
    s2 = v * n
    nr = n * rho2 + 1.0
    return np.asarray(np.sqrt(s2 * 2.0 * nr * np.log(np.sqrt(nr) / alpha) / (n**2 * rho2)))


def always_valid_p(
    estimate: ArrayLike,
    variance: ArrayLike,
    n_total: ArrayLike,
    *,
    alpha: float = 0.05,
    tuning: float = 5000.0,
    null: float = 0.0,
) -> NDArray[np.float64]:
    """The always-valid p-value: ``min(1, 1 / e)`` for the normal-mixture e-value ``e``."""
    rho2 = mixture_rho(alpha, tuning) ** 2
    n = np.asarray(n_total, dtype=float)
    st2 = (np.asarray(estimate, dtype=float) - null) ** 2 * n / np.asarray(variance, dtype=float)
    nr = n * rho2 + 1.0
    log_e = rho2 * st2 / (2.0 * nr) - 0.5 * np.log(nr)
    return np.asarray(np.minimum(1.0, np.exp(-log_e)))


@dataclass(frozen=True)
class SequentialComparison:
    """``mean(a) - mean(b)`` with its always-valid interval at one look."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_a: int
    n_b: int
    alpha: float


def compare_means(
    a: ArrayLike, b: ArrayLike, *, alpha: float = 0.05, tuning: float = 5000.0
) -> SequentialComparison:
    """Always-valid interval of the difference of two independent samples' means (each needs
    two values or more)."""
    xa = np.asarray(a, dtype=float).ravel()
    xb = np.asarray(b, dtype=float).ravel()
    if xa.size < 2 or xb.size < 2:
        raise ValueError("each sample needs at least two values")
    diff = float(xa.mean() - xb.mean())
    variance = float(xa.var(ddof=1) / xa.size + xb.var(ddof=1) / xb.size)
    variance = max(variance, 1e-18)
    n = xa.size + xb.size
    width = float(halfwidth(variance, n, alpha=alpha, tuning=tuning))
    p = float(always_valid_p(diff, variance, n, alpha=alpha, tuning=tuning))
    return SequentialComparison(diff, diff - width, diff + width, p, xa.size, xb.size, alpha)
