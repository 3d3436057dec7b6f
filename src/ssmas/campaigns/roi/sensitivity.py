"""Sensitivity analysis as a tornado: each input moved to a low and a high quantile while the
others sit at their medians, bars sorted by the ROI swing they cause, widest first.

It answers the planner's question the Monte Carlo mean cannot: which estimate, if wrong, moves
the ROI most (and so is worth measuring better before launch).
"""

from __future__ import annotations

from dataclasses import dataclass

from ssmas.campaigns.roi.dists import RoiInputError
from ssmas.campaigns.roi.plan import INPUTS, CampaignPlan, roi_of

__all__ = ["Tornado", "TornadoBar", "tornado"]


@dataclass(frozen=True, slots=True)
class TornadoBar:
    """One input's bar: its low and high values and the ROI at each (others at their median)."""

    input: str
    low_value: float
    high_value: float
    roi_at_low: float
    roi_at_high: float

    @property
    def swing(self) -> float:
        """The width of the bar: how far ROI moves between the input's low and high."""
        return abs(self.roi_at_high - self.roi_at_low)


@dataclass(frozen=True, slots=True)
class Tornado:
    """The base ROI (every input at its median) and the bars, widest first."""

    base_roi: float
    low_q: float
    high_q: float
    bars: tuple[TornadoBar, ...]


def _roi(values: dict[str, float]) -> float:
    return float(roi_of(*(values[name] for name in INPUTS)))


def tornado(plan: CampaignPlan, *, low_q: float = 0.1, high_q: float = 0.9) -> Tornado:
    """The tornado of ``plan`` between the ``low_q`` and ``high_q`` quantiles of each input."""
    if not 0 < low_q < high_q < 1:
        raise RoiInputError(f"need 0 < low_q < high_q < 1, got {low_q}, {high_q}")
    medians = {name: plan.input(name).ppf(0.5) for name in INPUTS}
    bars = []
    for name in INPUTS:
        dist = plan.input(name)
        low, high = dist.ppf(low_q), dist.ppf(high_q)
        bars.append(
            TornadoBar(
                input=name,
                low_value=low,
                high_value=high,
                roi_at_low=_roi({**medians, name: low}),
                roi_at_high=_roi({**medians, name: high}),
            )
        )
    bars.sort(key=lambda bar: bar.swing, reverse=True)
    return Tornado(base_roi=_roi(medians), low_q=low_q, high_q=high_q, bars=tuple(bars))
