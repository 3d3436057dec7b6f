"""Sample-ratio mismatch: did the arms get the traffic their weights promised?

A broken assignment (a redirect that drops users, a bot filter on one arm) biases every result,
so an experiment whose counts fail a chi-square goodness-of-fit test against its weights is not
concluded. The default threshold is 0.001, as GrowthBook and most engines use, because the check
runs at every look; 5000 vs 5200 on 50/50 gives p = 0.0477 (suspicious, not yet flagged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ssmas.campaigns.experiments.errors import ExperimentError


@dataclass(frozen=True)
class SRMResult:
    """The goodness-of-fit statistic, its p-value and whether it is below the threshold."""

    chi2: float
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < self.threshold


def srm_check(
    counts: Sequence[int], weights: Sequence[float], *, threshold: float = 0.001
) -> SRMResult:
    """Chi-square goodness of fit of the arms' unit counts to their traffic weights."""
    observed = np.asarray(counts, dtype=float)
    w = np.asarray(weights, dtype=float)
    if observed.shape != w.shape or observed.size < 2:
        raise ExperimentError("SRM needs one count and one weight per arm, at least 2 arms")
    if np.any(w <= 0):
        raise ExperimentError("every arm's weight must be positive")
    if np.any(observed < 0):
        raise ExperimentError("counts must be non-negative")
    total = observed.sum()
    if total == 0:
        raise ExperimentError("no units assigned yet: nothing to check")
    expected = w / w.sum() * total
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    return SRMResult(
        chi2=chi2, p_value=float(stats.chi2.sf(chi2, observed.size - 1)), threshold=threshold
    )
