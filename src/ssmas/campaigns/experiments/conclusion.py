"""Auto-conclusion with guardrails: the seed's ``_determine_winner``, allowed to decide only
when the always-valid test allows it.

The seed declared a winner from a fixed-horizon test each time it looked, which with daily
looks is wrong far more often than alpha (see ``benchmarks/campaigns_experiments.py``). Here a
decision needs :class:`~ssmas.campaigns.experiments.sequential.SequentialResult` values, in this
order of precedence:

1. a sample-ratio mismatch invalidates the experiment: stop and investigate, conclude nothing;
2. a guardrail metric (unsubscribes, cost per conversion, complaint rate) whose confidence
   sequence lies wholly on its harmful side, beyond its tolerance, stops the experiment;
3. the primary metric's sequence excluding no effect ships the treatment or keeps the control;
4. otherwise keep running, until the planned sample is reached: then there is no detectable
   effect, and the experiment says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ssmas.campaigns.experiments.errors import ExperimentError
from ssmas.campaigns.experiments.sequential import SequentialResult
from ssmas.campaigns.experiments.srm import SRMResult

Action = Literal[
    "ship", "keep_control", "stop_guardrail", "invalid_srm", "continue", "no_effect", "no_data"
]


@dataclass(frozen=True)
class Guardrail:
    """A metric that must not get worse: its name, its good direction and the harm tolerated
    (in the result's lift units: 0.02 lets a relative lift go 2% the wrong way)."""

    name: str
    higher_is_better: bool = True
    tolerance: float = 0.0

    def harmed(self, result: SequentialResult) -> bool:
        """The sequence lies wholly beyond the tolerance on the harmful side."""
        if self.higher_is_better:
            return result.ci_high < -self.tolerance
        return result.ci_low > self.tolerance


@dataclass(frozen=True)
class Decision:
    """What to do now, why, and whether the experiment may stop."""

    action: Action
    reason: str
    harmed_guardrails: tuple[str, ...] = ()

    @property
    def stop(self) -> bool:
        return self.action not in ("continue", "no_data")


def _checked(result: object, what: str) -> SequentialResult:
    if not isinstance(result, SequentialResult):
        raise ExperimentError(
            f"{what} must be a sequential result (sequential_test / SequentialMonitor): a "
            "fixed-horizon test cannot conclude an experiment that is looked at repeatedly"
        )
    return result


def conclude(
    primary: SequentialResult,
    srm: SRMResult,
    *,
    guardrails: Sequence[tuple[Guardrail, SequentialResult]] = (),
    higher_is_better: bool = True,
    planned_total: int | None = None,
) -> Decision:
    """The decision at this look, by the precedence in the module's docstring.

    ``planned_total``: units (both arms) after which an experiment that has not concluded stops
    with ``no_effect``; ``None`` keeps it running.
    """
    primary = _checked(primary, "the primary result")
    if srm.mismatch:
        return Decision(
            "invalid_srm",
            f"sample ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold}): the assignment "
            "is broken, so no result can be trusted; investigate before concluding",
        )
    harmed = tuple(g.name for g, r in guardrails if g.harmed(_checked(r, f"guardrail {g.name!r}")))
    if harmed:
        return Decision(
            "stop_guardrail",
            f"guardrail{'s' if len(harmed) > 1 else ''} {', '.join(harmed)} got worse beyond "
            "tolerance (always-valid interval wholly on the harmful side)",
            harmed,
        )
    span = f"[{primary.ci_low:.4g}, {primary.ci_high:.4g}]"
    better = primary.ci_low > 0 if higher_is_better else primary.ci_high < 0
    worse = primary.ci_high < 0 if higher_is_better else primary.ci_low > 0
    if better:
        return Decision("ship", f"the treatment is better: always-valid interval {span}")
    if worse:
        return Decision("keep_control", f"the treatment is worse: always-valid interval {span}")
    if planned_total is not None and primary.n_total >= planned_total:
        return Decision(
            "no_effect",
            f"planned sample reached ({primary.n_total} units) and the interval {span} still "
            "includes no effect: no detectable difference",
        )
    return Decision("continue", f"not yet conclusive: always-valid interval {span} includes 0")
