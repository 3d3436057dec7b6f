"""Campaign ROI before launch (issue 17, item 4): Monte Carlo ROI from uncertain cost, reach,
conversion rate and value per conversion; a tornado of which input moves ROI most; and a
mean-variance split of a budget across a portfolio of campaigns, with its efficient frontier."""

from ssmas.campaigns.roi.dists import Dist, RoiInputError
from ssmas.campaigns.roi.montecarlo import RoiDistribution, simulate_roi
from ssmas.campaigns.roi.plan import INPUTS, CampaignPlan, roi_of
from ssmas.campaigns.roi.portfolio import (
    Allocation,
    PortfolioCampaign,
    campaign_from_plan,
    efficient_frontier,
    optimise_portfolio,
)
from ssmas.campaigns.roi.sensitivity import Tornado, TornadoBar, tornado

__all__ = [
    "INPUTS",
    "Allocation",
    "CampaignPlan",
    "Dist",
    "PortfolioCampaign",
    "RoiDistribution",
    "RoiInputError",
    "Tornado",
    "TornadoBar",
    "campaign_from_plan",
    "efficient_frontier",
    "optimise_portfolio",
    "roi_of",
    "simulate_roi",
    "tornado",
]
