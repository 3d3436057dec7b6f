"""Off-policy evaluation on the Open Bandit Dataset sample (ZOZOTOWN, 80 items shown in three
positions): the Bernoulli Thompson sampling (BTS) policy's click rate estimated from the rounds
logged under the uniform-random policy, to be checked against the BTS log's own mean.

The evaluation policy's probabilities ``pi(item | position)`` are the BTS policy's marginal
action distribution, estimated by how often BTS showed each item in each position in its own
log (an unbiased estimate of its time-averaged distribution; the logged propensities are the
chosen item's and over-represent the likely ones). The reward model for DR is each
(item, position) click rate shrunk towards its position's rate (a Beta prior of
``prior_strength`` impressions), cross-fitted on two folds so no round is scored by a model
that saw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ssmas.campaigns.bandits.ope import (
    DEFAULT_INTERVAL,
    Estimate,
    IntervalSpec,
    doubly_robust,
    ips,
    snips,
)
from ssmas.campaigns.bandits.policies import BanditError, FloatArray

COLUMNS = ("item_id", "position", "click", "propensity_score")
N_ITEMS = 80
POSITIONS = (1, 2, 3)


@dataclass(frozen=True)
class OpenBanditResult:
    """The three estimates of the BTS policy from the random log, and BTS's on-policy mean."""

    ips: Estimate
    snips: Estimate
    dr: Estimate
    on_policy_mean: float
    n_random: int
    n_bts: int


def read_log(path: Path | str) -> pd.DataFrame:
    """One Open Bandit log (``random_all.csv`` or ``bts_all.csv``): item, position, click and
    propensity per logged impression, checked."""
    file = Path(path)
    if not file.is_file():
        raise BanditError(f"no Open Bandit log at {file}")
    frame = pd.read_csv(file, usecols=lambda c: c in COLUMNS)
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise BanditError(f"{file.name} lacks the columns {sorted(missing)}")
    if frame.empty:
        raise BanditError(f"{file.name} has no rounds")
    if not frame["item_id"].between(0, N_ITEMS - 1).all():
        raise BanditError(f"{file.name} has items outside 0-{N_ITEMS - 1}")
    if not frame["position"].isin(POSITIONS).all():
        raise BanditError(f"{file.name} has positions other than {POSITIONS}")
    if not frame["click"].isin((0, 1)).all():
        raise BanditError(f"{file.name} has clicks other than 0 and 1")
    return frame.reset_index(drop=True)


def action_distribution(log: pd.DataFrame) -> FloatArray:
    """``pi[position - 1, item]``: the share of the log's impressions in each position that
    showed each item (each row sums to 1)."""
    counts = np.zeros((len(POSITIONS), N_ITEMS))
    np.add.at(counts, (log["position"].to_numpy() - 1, log["item_id"].to_numpy()), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    if np.any(totals == 0):
        raise BanditError("the log has a position with no impressions")
    return np.asarray(counts / totals, dtype=np.float64)


def reward_model(log: pd.DataFrame, prior_strength: float = 200.0) -> FloatArray:
    """``q[position - 1, item]``: each item's click rate in each position, shrunk towards the
    position's rate by ``prior_strength`` pseudo-impressions."""
    if prior_strength <= 0:
        raise BanditError("prior_strength must be positive")
    shape = (len(POSITIONS), N_ITEMS)
    shown, clicks = np.zeros(shape), np.zeros(shape)
    index = (log["position"].to_numpy() - 1, log["item_id"].to_numpy())
    np.add.at(shown, index, 1.0)
    np.add.at(clicks, index, log["click"].to_numpy(dtype=np.float64))
    base = clicks.sum(axis=1, keepdims=True) / np.maximum(shown.sum(axis=1, keepdims=True), 1)
    return np.asarray((clicks + prior_strength * base) / (shown + prior_strength))


def evaluate_bts_from_random(
    random_log: pd.DataFrame,
    bts_log: pd.DataFrame,
    *,
    ci: IntervalSpec = DEFAULT_INTERVAL,
    prior_strength: float = 200.0,
) -> OpenBanditResult:
    """IPS, SNIPS and DR estimates of the BTS policy's click rate from the random log."""
    pi = action_distribution(bts_log)
    pos = random_log["position"].to_numpy() - 1
    item = random_log["item_id"].to_numpy()
    reward = random_log["click"].to_numpy(dtype=np.float64)
    pscore = random_log["propensity_score"].to_numpy(dtype=np.float64)
    pi_action = pi[pos, item]
    # two-fold cross-fitting: each half's reward model is learnt on the other half
    fold = np.random.default_rng(ci.seed).permutation(len(random_log)) % 2
    q_action, q_expected = np.empty(len(random_log)), np.empty(len(random_log))
    for k in (0, 1):
        q = reward_model(random_log[fold != k], prior_strength)
        rows = fold == k
        q_action[rows] = q[pos[rows], item[rows]]
        q_expected[rows] = (pi * q).sum(axis=1)[pos[rows]]
    common = (reward, pscore, pi_action)
    return OpenBanditResult(
        ips=ips(*common, ci),
        snips=snips(*common, ci),
        dr=doubly_robust(*common, q_action, q_expected, ci),
        on_policy_mean=float(bts_log["click"].mean()),
        n_random=len(random_log),
        n_bts=len(bts_log),
    )


def find_sample(start: Path) -> Path:
    """``shared/data/bandit/open_bandit_sample`` beside the checkout or a folder above it."""
    for folder in (start, *start.parents):
        candidate = folder / "shared" / "data" / "bandit" / "open_bandit_sample"
        if (candidate / "random_all.csv").is_file():
            return candidate
    raise BanditError(f"cannot find shared/data/bandit/open_bandit_sample above {start}")
