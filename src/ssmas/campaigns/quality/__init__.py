"""Lead quality (seed 002's ``AdvancedLeadQualityPredictor``): a lead simulator with a known
ground truth, the seed's features and its four-model ensemble, registered in MLflow with
champion / challenger, and a fast scorer for the API."""

from __future__ import annotations

from ssmas.campaigns.quality.features import (
    FEATURES,
    LEAD_FIELDS,
    LeadFeatureError,
    lead_matrix,
    lead_row,
)
from ssmas.campaigns.quality.simulator import simulate_leads, true_logit, true_probability

__all__ = [
    "FEATURES",
    "LEAD_FIELDS",
    "LeadFeatureError",
    "lead_matrix",
    "lead_row",
    "simulate_leads",
    "true_logit",
    "true_probability",
]
