"""Bandits for campaigns: policies over message variants and send times, a recipient simulator
with cumulative regret, off-policy evaluation on logged data (IPS, SNIPS, DR with confidence
intervals) and the seed's Q-learning campaign optimiser for comparison."""

from ssmas.campaigns.bandits.ope import Estimate, IntervalSpec, doubly_robust, ips, snips
from ssmas.campaigns.bandits.policies import (
    UCB1,
    BanditError,
    EpsilonGreedy,
    LinUCB,
    Policy,
    ThompsonSampling,
    UniformRandom,
)
from ssmas.campaigns.bandits.simulator import (
    RecipientSimulator,
    campaign_simulator,
    mean_regret,
    run_policy,
)

__all__ = [
    "UCB1",
    "BanditError",
    "EpsilonGreedy",
    "Estimate",
    "IntervalSpec",
    "LinUCB",
    "Policy",
    "RecipientSimulator",
    "ThompsonSampling",
    "UniformRandom",
    "campaign_simulator",
    "doubly_robust",
    "ips",
    "mean_regret",
    "run_policy",
    "snips",
]
