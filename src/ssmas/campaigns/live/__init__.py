"""Experiments and bandits on a tenant's live campaigns: the statistics of
``ssmas.campaigns.experiments`` and ``ssmas.campaigns.bandits`` over stored assignments,
outcomes and rewards (``tables``), behind the API (``ssmas.campaigns.api.experiment_routes``),
the pages and the demo."""

from ssmas.campaigns.live.bandits import (
    bandit_view,
    choose_arms,
    create_bandit,
    list_bandits,
    record_rewards,
)
from ssmas.campaigns.live.experiments import (
    MetricSpec,
    OutcomeIn,
    assign_units,
    auto_conclude,
    conclude_experiment,
    create_experiment,
    experiment_results,
    experiment_timeline,
    experiment_view,
    get_experiment,
    list_experiments,
    record_outcomes,
)

__all__ = [
    "MetricSpec",
    "OutcomeIn",
    "assign_units",
    "auto_conclude",
    "bandit_view",
    "choose_arms",
    "conclude_experiment",
    "create_bandit",
    "create_experiment",
    "experiment_results",
    "experiment_timeline",
    "experiment_view",
    "get_experiment",
    "list_bandits",
    "list_experiments",
    "record_outcomes",
    "record_rewards",
]
