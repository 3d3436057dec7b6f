"""Experiments for campaigns (issue 17, item 1): the seed's ``ABTestManager`` made sound.

Deterministic weighted assignment (``assignment``), a sample-size and run-length planner
(``planning``), fixed-horizon tests (``frequentist``), the sample-ratio check (``srm``),
multiple-comparison corrections (``corrections``), always-valid confidence sequences for daily
looks (``sequential``), Bayesian summaries (``bayesian``), CUPED (``cuped``) and the
guardrail-aware auto-conclusion (``conclusion``), all run at one look by ``analysis.analyse``.
Pure statistics: no I/O.
"""

from ssmas.campaigns.experiments.analysis import Comparison, ExperimentReport, Metric, analyse
from ssmas.campaigns.experiments.assignment import (
    ExperimentDesign,
    Variant,
    assign,
    assign_many,
    bucket,
)
from ssmas.campaigns.experiments.bayesian import (
    BayesianResult,
    BetaBinomialResult,
    NormalPrior,
    beta_binomial,
    gaussian_effect,
)
from ssmas.campaigns.experiments.conclusion import Decision, Guardrail, conclude
from ssmas.campaigns.experiments.corrections import Correction, benjamini_hochberg, holm
from ssmas.campaigns.experiments.cuped import CupedArm, adjusted_summary, cuped, cuped_theta
from ssmas.campaigns.experiments.errors import ExperimentError
from ssmas.campaigns.experiments.frequentist import (
    LiftResult,
    StatResult,
    anova,
    chi_square_test,
    conversion_table,
    lift_test,
    two_proportion_test,
    welch_t_test,
)
from ssmas.campaigns.experiments.planning import (
    Plan,
    plan_experiment,
    power_two_proportions,
    sample_size_per_arm,
)
from ssmas.campaigns.experiments.sequential import (
    SequentialMonitor,
    SequentialResult,
    always_valid_p,
    halfwidth,
    mixture_rho,
    sequential_test,
)
from ssmas.campaigns.experiments.srm import SRMResult, srm_check
from ssmas.campaigns.experiments.summary import ArmSummary, Effect, effect, lift_moments

__all__ = [
    "ArmSummary",
    "BayesianResult",
    "BetaBinomialResult",
    "Comparison",
    "Correction",
    "CupedArm",
    "Decision",
    "Effect",
    "ExperimentDesign",
    "ExperimentError",
    "ExperimentReport",
    "Guardrail",
    "LiftResult",
    "Metric",
    "NormalPrior",
    "Plan",
    "SRMResult",
    "SequentialMonitor",
    "SequentialResult",
    "StatResult",
    "Variant",
    "adjusted_summary",
    "always_valid_p",
    "analyse",
    "anova",
    "assign",
    "assign_many",
    "benjamini_hochberg",
    "beta_binomial",
    "bucket",
    "chi_square_test",
    "conclude",
    "conversion_table",
    "cuped",
    "cuped_theta",
    "effect",
    "gaussian_effect",
    "halfwidth",
    "holm",
    "lift_moments",
    "lift_test",
    "mixture_rho",
    "plan_experiment",
    "power_two_proportions",
    "sample_size_per_arm",
    "sequential_test",
    "srm_check",
    "two_proportion_test",
    "welch_t_test",
]
