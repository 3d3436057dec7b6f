"""Live Thompson-sampling bandits over a campaign's arms (message variant x send time).

The state is each arm's pulls and rewards (conversions), stored in ``campaigns_bandits``; a
choice draws from the arms' Beta posteriors (:class:`ThompsonSampling` rebuilt from the stored
counts), so any process can choose and the same counts give the same posteriors. ``history``
keeps the totals after each recorded batch (at most :data:`HISTORY_POINTS`, thinned evenly),
with the cumulative pseudo-regret when the arms' true rates are known (a simulated campaign,
as in the demo): the page draws it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from scipy import stats

from ssmas.campaigns.bandits import ThompsonSampling
from ssmas.campaigns.errors import InvalidInput
from ssmas.campaigns.live.tables import LiveBandit
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Campaign
from ssmas.core.db import utcnow

__all__ = [
    "HISTORY_POINTS",
    "bandit_view",
    "choose_arms",
    "create_bandit",
    "list_bandits",
    "record_rewards",
]

HISTORY_POINTS = 400
MAX_ARMS = 64


def create_bandit(
    scope: TenantScope,
    *,
    name: str,
    arms: Sequence[str],
    campaign_id: int | None = None,
    true_rates: Sequence[float] | None = None,
) -> dict[str, Any]:
    """A new bandit with every arm unplayed; ``true_rates`` (simulations only) enables regret."""
    names = [str(a) for a in arms]
    if not 2 <= len(names) <= MAX_ARMS:
        raise InvalidInput(message=f"a bandit needs 2 to {MAX_ARMS} arms, got {len(names)}")
    if len(set(names)) != len(names) or any(not a for a in names):
        raise InvalidInput(message="arm names must be unique and non-empty")
    if true_rates is not None and (
        len(true_rates) != len(names) or not all(0.0 <= r <= 1.0 for r in true_rates)
    ):
        raise InvalidInput(message="true_rates must be one rate in [0, 1] per arm")
    if campaign_id is not None:
        scope.get(Campaign, campaign_id, "campaign")
    row = scope.add(
        LiveBandit(
            name=name,
            campaign_id=campaign_id,
            arms=names,
            pulls=[0] * len(names),
            rewards=[0.0] * len(names),
            true_rates=None if true_rates is None else [float(r) for r in true_rates],
            history=[],
        )
    )
    return bandit_view(row)


def _policy(row: LiveBandit, seed: int | None) -> ThompsonSampling:
    policy = ThompsonSampling(len(row.arms), seed=seed)
    policy.pulls = np.asarray(row.pulls, dtype=np.int64)
    policy.rewards = np.asarray(row.rewards, dtype=np.float64)
    return policy


def choose_arms(
    scope: TenantScope, bandit_id: int, count: int = 1, *, seed: int | None = None
) -> list[str]:
    """``count`` arms drawn by Thompson sampling from the current posteriors."""
    if not 1 <= count <= 10_000:
        raise InvalidInput(message=f"count must be between 1 and 10,000, got {count}")
    row = scope.get(LiveBandit, bandit_id, "bandit")
    policy = _policy(row, seed)
    return [row.arms[policy.select()] for _ in range(count)]


def record_rewards(
    scope: TenantScope,
    bandit_id: int,
    rewards: Sequence[tuple[str, float]],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Add ``(arm, reward)`` pairs (rewards in [0, 1]); a bad pair refuses the whole batch."""
    row = scope.get(LiveBandit, bandit_id, "bandit")
    index = {a: i for i, a in enumerate(row.arms)}
    problems = [
        f"row {i}: unknown arm {a!r}" if a not in index else f"row {i}: reward must be in [0, 1]"
        for i, (a, r) in enumerate(rewards)
        if a not in index or not (math.isfinite(r) and 0.0 <= r <= 1.0)
    ]
    if not rewards:
        problems.append("no rewards given")
    if problems:
        raise InvalidInput(message="; ".join(problems[:10]))
    pulls, total = list(row.pulls), list(row.rewards)
    regret = row.history[-1][2] if row.history else 0.0
    best = max(row.true_rates) if row.true_rates else None
    for arm, reward in rewards:
        i = index[arm]
        pulls[i] += 1
        total[i] += float(reward)
        if best is not None and row.true_rates is not None:
            regret += best - row.true_rates[i]
    history = [*row.history, [float(sum(pulls)), float(sum(total)), float(regret)]]
    if len(history) > HISTORY_POINTS:  # keep the first, the last and every other one between
        history = [history[0], *history[1:-1:2], history[-1]]
    row.pulls, row.rewards, row.history = pulls, total, history
    row.updated_at = now or utcnow()
    scope.session.flush()
    return bandit_view(row)


def bandit_view(row: LiveBandit) -> dict[str, Any]:
    """Arms with pulls, observed rate, 95% posterior interval, the chance each is best (by
    Monte Carlo over the posteriors) and the regret history."""
    a = 1.0 + np.asarray(row.rewards, dtype=float)
    b = 1.0 + np.asarray(row.pulls, dtype=float) - np.asarray(row.rewards, dtype=float)
    draws = np.random.default_rng(row.id).beta(a, b, size=(4000, len(row.arms)))
    best = np.bincount(draws.argmax(axis=1), minlength=len(row.arms)) / draws.shape[0]
    arms = []
    for i, name in enumerate(row.arms):
        n = int(row.pulls[i])
        arms.append(
            {
                "arm": name,
                "pulls": n,
                "rewards": float(row.rewards[i]),
                "rate": float(row.rewards[i]) / n if n else None,
                "ci_low": float(stats.beta.ppf(0.025, a[i], b[i])),
                "ci_high": float(stats.beta.ppf(0.975, a[i], b[i])),
                "chance_best": float(best[i]),
                "true_rate": None if row.true_rates is None else row.true_rates[i],
            }
        )
    return {
        "id": row.id,
        "name": row.name,
        "campaign_id": row.campaign_id,
        "arms": arms,
        "pulls": int(sum(row.pulls)),
        "rewards": float(sum(row.rewards)),
        "regret": row.history[-1][2] if row.history and row.true_rates else None,
        "history": row.history,
        "updated_at": row.updated_at,
    }


def list_bandits(scope: TenantScope, *, limit: int = 100) -> list[dict[str, Any]]:
    return [bandit_view(r) for r in scope.all(LiveBandit, limit=limit)]
