"""Auto-conclusion: only sequential results decide, SRM and guardrails come first."""

from __future__ import annotations

import pytest

from ssmas.campaigns.experiments import (
    ArmSummary,
    ExperimentError,
    sequential_test,
    srm_check,
    two_proportion_test,
)
from ssmas.campaigns.experiments.conclusion import Guardrail, conclude

BALANCED = srm_check([30_000, 30_000], [1, 1])


def seq(conv_c: int, conv_t: int, units: int = 30_000):  # type: ignore[no-untyped-def]
    return sequential_test(
        ArmSummary.proportion(conv_c, units), ArmSummary.proportion(conv_t, units), tuning=60_000
    )


def test_ships_a_clear_winner_and_keeps_control_on_a_loser() -> None:
    assert conclude(seq(3000, 3400), BALANCED).action == "ship"
    assert conclude(seq(3400, 3000), BALANCED).action == "keep_control"
    # for a cost metric, lower is better
    assert conclude(seq(3400, 3000), BALANCED, higher_is_better=False).action == "ship"


def test_fixed_horizon_significance_is_not_enough() -> None:
    # 1500/15000 vs 1650/15000 is significant at a single look (p = 0.007) ...
    assert two_proportion_test(1500, 15_000, 1650, 15_000).significant
    primary = seq(1500, 1650, 15_000)
    decision = conclude(primary, srm_check([15_000, 15_000], [1, 1]))
    # ... but not always-valid: the experiment keeps running
    assert decision.action == "continue" and not decision.stop
    with pytest.raises(ExperimentError, match="sequential result"):
        conclude(two_proportion_test(1500, 15_000, 1650, 15_000), BALANCED)  # type: ignore[arg-type]


def test_srm_blocks_any_conclusion() -> None:
    d = conclude(seq(3000, 3400), srm_check([30_000, 28_000], [1, 1]))
    assert d.action == "invalid_srm" and d.stop and "mismatch" in d.reason


def test_harmed_guardrail_stops_even_a_winner() -> None:
    unsubscribes = (Guardrail("unsubscribe_rate", higher_is_better=False), seq(300, 420))
    d = conclude(seq(3000, 3400), BALANCED, guardrails=[unsubscribes])
    assert d.action == "stop_guardrail" and d.harmed_guardrails == ("unsubscribe_rate",)
    # within tolerance (a 60% relative increase allowed), the winner ships
    lenient = (Guardrail("unsubscribe_rate", higher_is_better=False, tolerance=0.6), seq(300, 420))
    assert conclude(seq(3000, 3400), BALANCED, guardrails=[lenient]).action == "ship"
    # an inconclusive guardrail does not stop it
    unclear = (Guardrail("unsubscribe_rate", higher_is_better=False), seq(300, 310))
    assert conclude(seq(3000, 3400), BALANCED, guardrails=[unclear]).action == "ship"


def test_planned_sample_reached_without_effect_says_so() -> None:
    d = conclude(seq(3000, 3010), BALANCED, planned_total=60_000)
    assert d.action == "no_effect" and "no detectable" in d.reason
    assert conclude(seq(3000, 3010), BALANCED, planned_total=100_000).action == "continue"
