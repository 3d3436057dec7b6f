"""Monte Carlo ROI prediction (the seed's ``_run_monte_carlo_simulation``): draw every input
``iterations`` times at once with numpy, seeded, and summarise the ROI distribution.

One run of 10,000 iterations is four vectorised draws and one array expression, so it costs about
a millisecond (``benchmarks/campaigns_roi.py`` measures it as ``roi_mc_10k_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssmas.campaigns.roi.dists import RoiInputError
from ssmas.campaigns.roi.plan import INPUTS, CampaignPlan, roi_of

__all__ = ["PERCENTILES", "RoiDistribution", "simulate_roi"]

PERCENTILES = (5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0)
DEFAULT_ITERATIONS = 10_000


@dataclass(frozen=True)
class RoiDistribution:
    """The simulated ROI of one plan: summary figures plus the draws themselves."""

    name: str
    iterations: int
    mean: float
    std: float
    stderr: float
    percentiles: dict[float, float]
    prob_loss: float
    samples: np.ndarray

    def interval(self, level: float = 0.9) -> tuple[float, float]:
        """The central ``level`` interval of the simulated ROI (empirical quantiles)."""
        if not 0 < level < 1:
            raise RoiInputError(f"interval level must be in (0, 1), got {level}")
        tail = (1 - level) / 2 * 100
        low, high = np.percentile(self.samples, [tail, 100 - tail])
        return float(low), float(high)

    def summary(self) -> dict[str, float]:
        """Flat figures for a table or JSON."""
        out = {"mean": self.mean, "std": self.std, "prob_loss": self.prob_loss}
        out.update({f"p{q:g}": v for q, v in self.percentiles.items()})
        return out


def simulate_roi(
    plan: CampaignPlan, *, iterations: int = DEFAULT_ITERATIONS, seed: int | None = 0
) -> RoiDistribution:
    """Simulate ``plan``'s ROI ``iterations`` times (inputs independent) and summarise it."""
    if iterations < 2:
        raise RoiInputError(f"iterations must be at least 2, got {iterations}")
    rng = np.random.default_rng(seed)
    draws = [plan.input(name).sample(rng, iterations) for name in INPUTS]
    roi = roi_of(*draws)
    std = float(roi.std(ddof=1))
    values = np.percentile(roi, PERCENTILES)
    return RoiDistribution(
        name=plan.name,
        iterations=iterations,
        mean=float(roi.mean()),
        std=std,
        stderr=std / float(np.sqrt(iterations)),
        percentiles={q: float(v) for q, v in zip(PERCENTILES, values, strict=True)},
        prob_loss=float(np.mean(roi < 0)),
        samples=roi,
    )
