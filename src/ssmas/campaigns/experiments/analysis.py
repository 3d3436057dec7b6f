"""One look at a whole experiment: the seed's ``ABTestManager.analyze_ab_test``, made sound.

Given the design, the units each variant has received and each metric's per-variant summaries,
it checks the sample ratio, compares every treatment with the control on every metric (fixed
horizon, always-valid sequence and Bayesian posterior), corrects the fixed-horizon p-values of
the primary metric across treatments (Holm or Benjamini-Hochberg) and decides per treatment with
:func:`~ssmas.campaigns.experiments.conclusion.conclude`. With several treatments the sequences
use a Bonferroni share of alpha, so the chance of any false winner stays below alpha at every
look. An arm without data gives a ``no_data`` decision that says which, not an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ssmas.campaigns.experiments.assignment import ExperimentDesign
from ssmas.campaigns.experiments.bayesian import BayesianResult, gaussian_effect
from ssmas.campaigns.experiments.conclusion import Decision, Guardrail, conclude
from ssmas.campaigns.experiments.corrections import benjamini_hochberg, holm
from ssmas.campaigns.experiments.errors import ExperimentError, check_alpha
from ssmas.campaigns.experiments.frequentist import LiftResult, lift_test
from ssmas.campaigns.experiments.sequential import SequentialResult, sequential_test
from ssmas.campaigns.experiments.srm import SRMResult, srm_check
from ssmas.campaigns.experiments.summary import ArmSummary, EffectKind


@dataclass(frozen=True)
class Metric:
    """A metric's per-variant summaries, its lift kind and good direction; a guardrail if
    ``guardrail`` is set (then its direction and tolerance come from there)."""

    name: str
    arms: Mapping[str, ArmSummary]
    kind: EffectKind = "relative"
    higher_is_better: bool = True
    guardrail: Guardrail | None = None


@dataclass(frozen=True)
class Comparison:
    """One treatment against the control on one metric."""

    metric: str
    variant: str
    fixed: LiftResult
    sequential: SequentialResult
    bayesian: BayesianResult
    adjusted_p: float | None = None


@dataclass(frozen=True)
class ExperimentReport:
    """The SRM check, every comparison, and a decision per treatment."""

    key: str
    srm: SRMResult
    comparisons: tuple[Comparison, ...]
    decisions: Mapping[str, Decision] = field(default_factory=dict)


def _compare(
    metric: Metric, control: str, variant: str, *, alpha: float, seq_alpha: float, tuning: float
) -> Comparison:
    c, t = metric.arms.get(control), metric.arms.get(variant)
    if c is None or t is None:
        missing = control if c is None else variant
        raise ExperimentError(f"metric {metric.name!r} has no data for variant {missing!r}")
    inverse = not (
        metric.guardrail.higher_is_better if metric.guardrail else metric.higher_is_better
    )
    return Comparison(
        metric=metric.name,
        variant=variant,
        fixed=lift_test(c, t, alpha=alpha, kind=metric.kind),
        sequential=sequential_test(c, t, alpha=seq_alpha, tuning=tuning, kind=metric.kind),
        bayesian=gaussian_effect(c, t, kind=metric.kind, alpha=alpha, inverse=inverse),
    )


def analyse(
    design: ExperimentDesign,
    units: Mapping[str, int],
    primary: Metric,
    *,
    guardrails: Sequence[Metric] = (),
    alpha: float = 0.05,
    tuning: float | None = None,
    planned_total: int | None = None,
    correction: Literal["holm", "fdr_bh"] = "holm",
) -> ExperimentReport:
    """Analyse one look at ``design``; ``units`` are the units assigned per variant so far.

    ``tuning``: the total units at which the sequences are tightest; by default the planned
    total, else 5,000 (GrowthBook's default).
    """
    alpha = check_alpha(alpha)
    tuning = float(tuning or planned_total or 5000)
    for g in guardrails:
        if g.guardrail is None:
            raise ExperimentError(f"metric {g.name!r} is passed as a guardrail without a Guardrail")
    control, treatments = design.names[0], design.names[1:]
    counts = [int(units.get(name, 0)) for name in design.names]
    if sum(counts) == 0:
        raise ExperimentError(f"experiment {design.key!r} has no units yet: nothing to analyse")
    srm = srm_check(counts, design.weights)
    seq_alpha = alpha / len(treatments)
    comparisons: list[Comparison] = []
    decisions: dict[str, Decision] = {}
    primaries: list[Comparison] = []
    for variant in treatments:
        try:
            main = _compare(
                primary, control, variant, alpha=alpha, seq_alpha=seq_alpha, tuning=tuning
            )
            for g in guardrails:
                if control not in g.arms or variant not in g.arms:
                    missing = control if control not in g.arms else variant
                    raise ExperimentError(f"metric {g.name!r} has no data for variant {missing!r}")
        except ExperimentError as exc:
            decisions[variant] = Decision("no_data", f"cannot conclude yet: {exc}")
            continue
        rails: list[tuple[Metric, Comparison]] = []
        unmeasured: list[str] = []
        for g in guardrails:
            # a guardrail with no events yet (zero variance, a zero control mean) shows no harm
            try:
                rails.append(
                    (
                        g,
                        _compare(
                            g, control, variant, alpha=alpha, seq_alpha=seq_alpha, tuning=tuning
                        ),
                    )
                )
            except ExperimentError as exc:
                unmeasured.append(f"{g.name} ({exc})")
        primaries.append(main)
        comparisons.extend(r for _, r in rails)
        decision = conclude(
            main.sequential,
            srm,
            guardrails=[(g.guardrail, r.sequential) for g, r in rails if g.guardrail is not None],
            higher_is_better=primary.higher_is_better,
            planned_total=planned_total,
        )
        if unmeasured:
            note = "; guardrail not measurable yet, no harm shown: " + ", ".join(unmeasured)
            decision = Decision(decision.action, decision.reason + note, decision.harmed_guardrails)
        decisions[variant] = decision
    if primaries:
        method = holm if correction == "holm" else benjamini_hochberg
        adjusted = method([c.fixed.p_value for c in primaries], alpha=alpha).adjusted
        primaries = [
            Comparison(c.metric, c.variant, c.fixed, c.sequential, c.bayesian, p)
            for c, p in zip(primaries, adjusted, strict=True)
        ]
    return ExperimentReport(
        key=design.key,
        srm=srm,
        comparisons=tuple(primaries) + tuple(comparisons),
        decisions=decisions,
    )
