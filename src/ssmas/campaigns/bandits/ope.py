"""Off-policy evaluation: the value a new policy would have had, estimated from rounds logged
under another one. Inverse propensity scoring (IPS), self-normalised IPS (SNIPS) and doubly
robust (DR), each with a 95% confidence interval, the percentile bootstrap over rounds (as the
Open Bandit Pipeline reports them) or the normal approximation on the per-round terms.

Inputs are per logged round ``i``: the reward ``r_i``, the logging policy's probability of the
action it took ``p_i`` (the propensity), the evaluation policy's probability of that same action
``pi_i``; DR also needs the reward model's prediction for the logged action ``q_i`` and its
expectation under the evaluation policy ``sum_a pi(a | x_i) q(x_i, a)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from ssmas.campaigns.bandits.policies import BanditError, FloatArray

Interval = Literal["bootstrap", "normal"]
BOOTSTRAP_CHUNK = 100


@dataclass(frozen=True)
class Estimate:
    """An estimated policy value with its confidence interval."""

    estimator: str
    value: float
    low: float
    high: float
    n_rounds: int
    level: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        return self.low <= value <= self.high


def _vector(name: str, values: object, n: int | None = None) -> FloatArray:
    out = np.asarray(values, dtype=np.float64).ravel()
    if out.size == 0:
        raise BanditError(f"{name} is empty: off-policy evaluation needs logged rounds")
    if n is not None and out.size != n:
        raise BanditError(f"{name} has {out.size} values, the rewards {n}")
    if not np.all(np.isfinite(out)):
        raise BanditError(f"{name} has missing or infinite values")
    return out


def _weights(rewards: object, pscore: object, pi_action: object) -> tuple[FloatArray, FloatArray]:
    r = _vector("rewards", rewards)
    p = _vector("pscore", pscore, r.size)
    pi = _vector("pi_action", pi_action, r.size)
    if np.any(p <= 0) or np.any(p > 1):
        raise BanditError("every propensity must be in (0, 1]: a zero one cannot be reweighted")
    if np.any(pi < 0) or np.any(pi > 1):
        raise BanditError("the evaluation policy's probabilities must be in [0, 1]")
    return r, pi / p


@dataclass(frozen=True)
class IntervalSpec:
    """How an estimate's confidence interval is computed: its ``level``, the ``method``
    (percentile bootstrap over rounds or the normal approximation) and the bootstrap's draws
    and seed (the same seed, the same interval)."""

    level: float = 0.95
    method: Interval = "bootstrap"
    n_bootstrap: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.level < 1:
            raise BanditError(f"level must be in (0, 1), got {self.level}")
        if self.method not in ("bootstrap", "normal"):
            raise BanditError(f"interval must be 'bootstrap' or 'normal', got {self.method!r}")
        if self.n_bootstrap < 10:
            raise BanditError(f"n_bootstrap must be at least 10, got {self.n_bootstrap}")


def _bootstrap(
    numerator: FloatArray, denominator: FloatArray | None, spec: IntervalSpec
) -> tuple[float, float]:
    """Percentile interval of ``sum(c·num) / sum(c·den)`` (``den`` = 1 for a mean) over
    multinomial resampling counts ``c`` of the rounds."""
    n = numerator.size
    rng = np.random.default_rng(spec.seed)
    draws: list[FloatArray] = []
    left = spec.n_bootstrap
    while left > 0:
        size = min(BOOTSTRAP_CHUNK, left)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        top = counts @ numerator
        bottom = counts @ denominator if denominator is not None else np.full(size, float(n))
        draws.append(np.divide(top, bottom, out=np.zeros(size), where=bottom > 0))
        left -= size
    tail = (1 - spec.level) / 2 * 100
    low, high = np.percentile(np.concatenate(draws), [tail, 100 - tail])
    return float(low), float(high)


def _estimate(
    name: str,
    value: float,
    influence: FloatArray,
    numerator: FloatArray,
    denominator: FloatArray | None,
    spec: IntervalSpec,
) -> Estimate:
    """The estimate with its interval: normal on the per-round ``influence`` terms, or the
    bootstrap of ``numerator / denominator``."""
    n = influence.size
    if spec.method == "normal":
        spread = influence.std(ddof=1) / np.sqrt(n) if n > 1 else float("inf")
        half = float(stats.norm.ppf(0.5 + spec.level / 2) * spread)
        low, high = value - half, value + half
    else:
        low, high = _bootstrap(numerator, denominator, spec)
    return Estimate(name, value, low, high, n, spec.level)


DEFAULT_INTERVAL = IntervalSpec()


def ips(
    rewards: object, pscore: object, pi_action: object, ci: IntervalSpec = DEFAULT_INTERVAL
) -> Estimate:
    """IPS: the mean of ``r_i pi_i / p_i``; unbiased when the logging policy gave every action
    the evaluation policy takes a non-zero probability."""
    r, w = _weights(rewards, pscore, pi_action)
    terms = w * r
    return _estimate("ips", float(terms.mean()), terms, terms, None, ci)


def snips(
    rewards: object, pscore: object, pi_action: object, ci: IntervalSpec = DEFAULT_INTERVAL
) -> Estimate:
    """Self-normalised IPS: ``sum(w_i r_i) / sum(w_i)``, biased for small samples but with far
    less variance when weights are large; its normal interval uses the delta method."""
    r, w = _weights(rewards, pscore, pi_action)
    if not w.sum() > 0:
        raise BanditError("the evaluation policy never takes a logged action: SNIPS is undefined")
    value = float((w * r).sum() / w.sum())
    # delta method: the ratio's influence terms are w_i (r_i - value) / mean(w)
    return _estimate("snips", value, w * (r - value) / w.mean(), w * r, w, ci)


def doubly_robust(
    rewards: object,
    pscore: object,
    pi_action: object,
    q_action: object,
    q_expected: object,
    ci: IntervalSpec = DEFAULT_INTERVAL,
) -> Estimate:
    """DR: the mean of ``sum_a pi(a|x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i))``; unbiased if
    either the propensities or the reward model are right, and less variable than IPS when
    the model is close."""
    r, w = _weights(rewards, pscore, pi_action)
    q = _vector("q_action", q_action, r.size)
    expected = _vector("q_expected", q_expected, r.size)
    terms = expected + w * (r - q)
    return _estimate("dr", float(terms.mean()), terms, terms, None, ci)
