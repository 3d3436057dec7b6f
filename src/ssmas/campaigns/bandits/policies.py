"""Bandit policies over a campaign's arms (message variant x send time): Thompson sampling
(Beta-Bernoulli), UCB1, epsilon-greedy, LinUCB (contextual) and uniform random as the baseline.

Every policy has ``select(context) -> arm`` and ``update(arm, reward, context)``, draws its
randomness from one ``numpy`` generator seeded at construction (the same seed, the same choices)
and breaks ties at random, so no arm is favoured by its index.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class BanditError(ValueError):
    """A policy, simulator or estimator was given input it cannot use."""


def _argmax_random_tie(values: FloatArray, rng: np.random.Generator) -> int:
    best = np.flatnonzero(values == values.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))


class Policy(ABC):
    """A bandit policy over ``n_arms`` arms numbered ``0 … n_arms - 1``."""

    name = "policy"

    def __init__(self, n_arms: int, *, seed: int | None = None) -> None:
        if isinstance(n_arms, bool) or not isinstance(n_arms, int) or n_arms < 1:
            raise BanditError(f"n_arms must be a positive integer, got {n_arms!r}")
        self.n_arms = n_arms
        self.rng = np.random.default_rng(seed)
        self.pulls = np.zeros(n_arms, dtype=np.int64)
        self.rewards = np.zeros(n_arms, dtype=np.float64)

    @abstractmethod
    def select(self, context: FloatArray | None = None) -> int:
        """The arm to play next."""

    def update(self, arm: int, reward: float, context: FloatArray | None = None) -> None:
        """Record the reward ``arm`` earned (rewards are conversions, in [0, 1])."""
        self._check_arm(arm)
        if not 0.0 <= float(reward) <= 1.0:
            raise BanditError(f"reward must be in [0, 1], got {reward!r}")
        self.pulls[arm] += 1
        self.rewards[arm] += float(reward)

    def means(self) -> FloatArray:
        """Each arm's observed mean reward (0 for an arm never played)."""
        return np.divide(self.rewards, self.pulls, out=np.zeros(self.n_arms), where=self.pulls > 0)

    def _check_arm(self, arm: Any) -> None:
        if isinstance(arm, bool) or not isinstance(arm, int | np.integer):
            raise BanditError(f"arm must be an integer, got {arm!r}")
        if not 0 <= int(arm) < self.n_arms:
            raise BanditError(f"arm {arm} is not one of the {self.n_arms} arms")


class UniformRandom(Policy):
    """Every arm with the same probability: the baseline, and the Open Bandit logging policy."""

    name = "uniform"

    def select(self, context: FloatArray | None = None) -> int:
        return int(self.rng.integers(self.n_arms))


class EpsilonGreedy(Policy):
    """The best observed mean with probability ``1 - epsilon``, a uniform arm otherwise."""

    name = "epsilon_greedy"

    def __init__(self, n_arms: int, *, epsilon: float = 0.1, seed: int | None = None) -> None:
        super().__init__(n_arms, seed=seed)
        if not 0.0 <= epsilon <= 1.0:
            raise BanditError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.epsilon = epsilon

    def select(self, context: FloatArray | None = None) -> int:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_arms))
        return _argmax_random_tie(self.means(), self.rng)


class UCB1(Policy):
    """Auer et al. (2002): every arm once, then the highest ``mean + sqrt(2 ln t / n)``."""

    name = "ucb1"

    def select(self, context: FloatArray | None = None) -> int:
        unplayed = np.flatnonzero(self.pulls == 0)
        if len(unplayed):
            return int(unplayed[0])
        total = float(self.pulls.sum())
        bonus = np.sqrt(2.0 * np.log(total) / self.pulls)
        return _argmax_random_tie(self.means() + bonus, self.rng)


class ThompsonSampling(Policy):
    """Beta-Bernoulli Thompson sampling: play the arm whose draw from its posterior
    ``Beta(alpha + successes, beta + failures)`` is highest."""

    name = "thompson"

    def __init__(
        self, n_arms: int, *, alpha: float = 1.0, beta: float = 1.0, seed: int | None = None
    ) -> None:
        super().__init__(n_arms, seed=seed)
        if alpha <= 0 or beta <= 0:
            raise BanditError(f"the Beta prior needs alpha, beta > 0, got {alpha}, {beta}")
        self.alpha, self.beta = alpha, beta

    def posterior(self) -> tuple[FloatArray, FloatArray]:
        """Each arm's posterior Beta parameters."""
        return self.alpha + self.rewards, self.beta + (self.pulls - self.rewards)

    def select(self, context: FloatArray | None = None) -> int:
        a, b = self.posterior()
        return _argmax_random_tie(self.rng.beta(a, b), self.rng)


class LinUCB(Policy):
    """Disjoint LinUCB (Li et al., 2010): a ridge regression of reward on the context per arm,
    played by its upper bound ``theta·x + alpha sqrt(x' A⁻¹ x)``."""

    name = "linucb"

    def __init__(
        self,
        n_arms: int,
        n_features: int,
        *,
        alpha: float = 1.0,
        ridge: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(n_arms, seed=seed)
        if n_features < 1:
            raise BanditError(f"n_features must be positive, got {n_features}")
        if alpha < 0 or ridge <= 0:
            raise BanditError(f"need alpha >= 0 and ridge > 0, got {alpha}, {ridge}")
        self.n_features, self.alpha = n_features, alpha
        self.a_inv = np.stack([np.eye(n_features) / ridge for _ in range(n_arms)])
        self.b = np.zeros((n_arms, n_features))

    def _context(self, context: FloatArray | None) -> FloatArray:
        if context is None:
            raise BanditError("LinUCB needs a context vector")
        x = np.asarray(context, dtype=np.float64).ravel()
        if x.shape != (self.n_features,) or not np.all(np.isfinite(x)):
            raise BanditError(f"context must be {self.n_features} finite numbers, got {x.shape}")
        return x

    def theta(self) -> FloatArray:
        """Each arm's ridge coefficients, shape ``(n_arms, n_features)``."""
        return np.asarray(np.einsum("aij,aj->ai", self.a_inv, self.b), dtype=np.float64)

    def select(self, context: FloatArray | None = None) -> int:
        x = self._context(context)
        spread = np.sqrt(np.einsum("i,aij,j->a", x, self.a_inv, x))
        return _argmax_random_tie(self.theta() @ x + self.alpha * spread, self.rng)

    def update(self, arm: int, reward: float, context: FloatArray | None = None) -> None:
        x = self._context(context)
        super().update(arm, reward, context)
        a_inv = self.a_inv[arm]
        ax = a_inv @ x  # Sherman-Morrison: (A + xx')⁻¹ without a new inverse
        self.a_inv[arm] = a_inv - np.outer(ax, ax) / (1.0 + x @ ax)
        self.b[arm] += float(reward) * x
