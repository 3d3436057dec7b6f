"""A campaign plan as four uncertain inputs and the one formula that turns them into ROI.

    revenue = reach * conversion_rate * value_per_conversion
    ROI     = (revenue - cost) / cost

Kept apart from the simulation so the Monte Carlo run, the tornado and the portfolio all read the
same inputs and the same formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssmas.campaigns.roi.dists import Dist, RoiInputError

__all__ = ["INPUTS", "CampaignPlan", "roi_of"]

INPUTS = ("cost", "reach", "conversion_rate", "value_per_conversion")
# quantile used to check that an input's support is where it must be (positive cost, rates in
# [0, 1]); draws beyond it, one in a million, are clipped into range
EDGE_Q = 1e-6
MIN_COST = 1e-9


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """A campaign before launch: total cost, people reached, conversion rate among them, and
    value per conversion, each a :class:`Dist`."""

    cost: Dist
    reach: Dist
    conversion_rate: Dist
    value_per_conversion: Dist
    name: str = "campaign"

    def __post_init__(self) -> None:
        if self.cost.ppf(EDGE_Q) <= 0:
            raise RoiInputError(f"{self.name}: cost must be positive (ROI divides by it)")
        for field in ("reach", "value_per_conversion"):
            if self.input(field).ppf(EDGE_Q) < 0:
                raise RoiInputError(f"{self.name}: {field} cannot be negative")
        rate = self.conversion_rate
        if rate.ppf(EDGE_Q) < 0 or rate.ppf(1 - EDGE_Q) > 1:
            raise RoiInputError(f"{self.name}: conversion_rate must lie in [0, 1]")

    def input(self, name: str) -> Dist:
        """One input by name (one of :data:`INPUTS`)."""
        if name not in INPUTS:
            raise RoiInputError(f"no input {name!r}; the inputs are {', '.join(INPUTS)}")
        dist: Dist = getattr(self, name)
        return dist


def roi_of(
    cost: np.ndarray | float,
    reach: np.ndarray | float,
    conversion_rate: np.ndarray | float,
    value_per_conversion: np.ndarray | float,
) -> np.ndarray:
    """ROI, elementwise; inputs are clipped into their ranges first (see ``EDGE_Q``)."""
    cost_ = np.maximum(np.asarray(cost, dtype=float), MIN_COST)
    revenue = (
        np.maximum(np.asarray(reach, dtype=float), 0.0)
        * np.clip(np.asarray(conversion_rate, dtype=float), 0.0, 1.0)
        * np.maximum(np.asarray(value_per_conversion, dtype=float), 0.0)
    )
    result: np.ndarray = (revenue - cost_) / cost_
    return result
