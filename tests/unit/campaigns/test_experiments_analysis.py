"""A whole look at an experiment: SRM, comparisons, corrections and per-treatment decisions;
and many experiments assigned at once without interfering."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ssmas.campaigns.experiments import ArmSummary, ExperimentDesign, ExperimentError, assign_many
from ssmas.campaigns.experiments.analysis import Metric, analyse
from ssmas.campaigns.experiments.conclusion import Guardrail

DESIGN = ExperimentDesign.create("subject-lines", ["control", "emoji", "question"])
UNITS = {"control": 30_000, "emoji": 30_000, "question": 30_000}


def conversions(control: int, emoji: int, question: int, units: int = 30_000) -> Metric:
    counts = {"control": control, "emoji": emoji, "question": question}
    return Metric("conversion", {k: ArmSummary.proportion(v, units) for k, v in counts.items()})


def test_decides_per_treatment_and_corrects_across_them() -> None:
    report = analyse(DESIGN, UNITS, conversions(3000, 3450, 3040), planned_total=120_000)
    assert report.decisions["emoji"].action == "ship"
    assert report.decisions["question"].action == "continue"
    primaries = [c for c in report.comparisons if c.metric == "conversion"]
    raw = [c.fixed.p_value for c in primaries]
    _, ref, _, _ = multipletests(raw, method="holm")
    assert [c.adjusted_p for c in primaries] == pytest.approx(list(ref), rel=1e-12)
    # two treatments: each sequence at alpha / 2
    assert all(c.sequential.alpha == pytest.approx(0.025) for c in primaries)


def test_guardrail_and_srm_in_the_report() -> None:
    unsub = Metric(
        "unsubscribe",
        {
            k: ArmSummary.proportion(v, 30_000)
            for k, v in (("control", 300), ("emoji", 450), ("question", 305))
        },
        guardrail=Guardrail("unsubscribe", higher_is_better=False),
    )
    report = analyse(DESIGN, UNITS, conversions(3000, 3450, 3040), guardrails=[unsub])
    assert report.decisions["emoji"].action == "stop_guardrail"
    rail = next(c for c in report.comparisons if c.metric == "unsubscribe" and c.variant == "emoji")
    assert rail.bayesian.chance_to_win < 0.01  # lower is better and it went up
    skewed = analyse(
        DESIGN,
        {"control": 30_000, "emoji": 28_000, "question": 30_000},
        conversions(3000, 3450, 3040),
    )
    assert {d.action for d in skewed.decisions.values()} == {"invalid_srm"}


def test_missing_data_says_why_it_cannot_conclude() -> None:
    metric = Metric(
        "conversion",
        {"control": ArmSummary.proportion(10, 100), "emoji": ArmSummary.proportion(12, 100)},
    )
    report = analyse(DESIGN, {"control": 100, "emoji": 100, "question": 0}, metric)
    decision = report.decisions["question"]
    assert decision.action == "no_data" and not decision.stop and "'question'" in decision.reason
    with pytest.raises(ExperimentError, match="no units yet"):
        analyse(DESIGN, {}, metric)
    with pytest.raises(ExperimentError, match="without a Guardrail"):
        analyse(DESIGN, UNITS, conversions(1, 1, 1), guardrails=[conversions(1, 1, 1)])


def test_150_experiments_at_once_split_independently() -> None:
    units = [f"lead-{i}" for i in range(6000)]
    designs = [ExperimentDesign.create(f"exp-{k}", ["a", "b"]) for k in range(150)]
    matrix = np.array([[x == "b" for x in assign_many(d, units)] for d in designs], dtype=float)
    # each experiment near 50/50
    share = matrix.mean(axis=1)
    assert np.all(np.abs(share - 0.5) < 4 * np.sqrt(0.25 / len(units)))
    # arms of different experiments uncorrelated: a unit's arm in one says nothing of another
    corr = np.corrcoef(matrix)[np.triu_indices(len(designs), 1)]
    assert np.abs(corr).max() < 5 / np.sqrt(len(units))
    # and the correlations look like noise: their spread is 1/sqrt(n)
    assert stats.kstest(corr * np.sqrt(len(units)), "norm").pvalue > 0.001


def test_a_guardrail_without_events_does_not_hold_the_decision_back() -> None:
    design = ExperimentDesign.create("rail", ["control", "short"])
    primary = Metric(
        "conversion",
        {
            "control": ArmSummary.proportion(500, 10_000),
            "short": ArmSummary.proportion(800, 10_000),
        },
    )
    quiet = Metric(
        "complaints",
        {"control": ArmSummary.proportion(0, 10_000), "short": ArmSummary.proportion(0, 10_000)},
        guardrail=Guardrail("complaints", higher_is_better=False),
    )
    report = analyse(design, {"control": 10_000, "short": 10_000}, primary, guardrails=[quiet])
    decision = report.decisions["short"]
    assert decision.action == "ship" and "complaints" in decision.reason
    assert [c.metric for c in report.comparisons] == ["conversion"]
