"""The lead simulator (known ground truth, seeded) and the seed's lead features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.quality.features import (
    FEATURES,
    LEAD_FIELDS,
    N_FEATURES,
    LeadFeatureError,
    lada_geography,
    lead_matrix,
    lead_row,
)
from ssmas.campaigns.quality.simulator import (
    LATENT_SD,
    simulate_leads,
    true_logit,
    true_probability,
)


def test_same_seed_same_leads_other_seed_other_leads() -> None:
    a, b, c = simulate_leads(500, seed=7), simulate_leads(500, seed=7), simulate_leads(500, 8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["converted"].equals(c["converted"]) or not a["lada"].equals(c["lada"])
    assert set(LEAD_FIELDS) <= set(a.columns)


def test_true_probability_is_the_mean_over_the_latent_noise() -> None:
    logit = np.array([-4.0, -1.0, 0.0, 2.5])
    rng = np.random.default_rng(0)
    draws = 1 / (1 + np.exp(-(logit[:, None] + LATENT_SD * rng.standard_normal((4, 400_000)))))
    np.testing.assert_allclose(true_probability(logit), draws.mean(axis=1), atol=2e-3)


def test_labels_follow_the_ground_truth() -> None:
    leads = simulate_leads(40_000, seed=3)
    assert 0.1 < leads["converted"].mean() < 0.3
    assert abs(leads["converted"].mean() - leads["true_p"].mean()) < 0.01
    # Ground truth directions the simulator promises.
    invalid = leads[~leads["phone_valid"]]["true_p"].mean()
    valid = leads[leads["phone_valid"]]["true_p"].mean()
    assert invalid < valid / 3
    stale = leads["days_since_last_validation"] > 180
    assert leads[stale]["true_p"].mean() < leads[~stale]["true_p"].mean()


def test_ground_truth_rises_with_clicks_all_else_equal() -> None:
    lead = simulate_leads(1, seed=1)
    more = lead.assign(links_clicked_30d=lead["links_clicked_30d"] + 3)
    assert true_logit(more)[0] > true_logit(lead)[0]


def test_one_lead_row_equals_the_frame_matrix() -> None:
    leads = simulate_leads(300, seed=11)
    matrix = lead_matrix(leads)
    assert matrix.shape == (300, N_FEATURES) == (300, len(FEATURES))
    assert matrix.dtype == np.float32
    for i, record in enumerate(leads[list(LEAD_FIELDS)].to_dict("records")):
        np.testing.assert_array_equal(lead_row(record)[0], matrix[i])


def test_every_lada_has_a_tier_and_an_economic_index() -> None:
    geography = lada_geography()
    assert len(geography) >= 397
    assert geography["55"][0] == 1.0 and geography["33"][0] == 1.0
    assert {tier for tier, _ in geography.values()} == {1.0, 2.0, 3.0}
    assert all(0.3 < econ < 2.5 for _, econ in geography.values())


def test_bad_leads_are_refused_with_a_reason() -> None:
    leads = simulate_leads(5, seed=2)
    with pytest.raises(LeadFeatureError, match="missing lead fields"):
        lead_matrix(leads.drop(columns=["source"]))
    with pytest.raises(LeadFeatureError, match="unknown LADA"):
        lead_matrix(leads.assign(lada="000"))
    with pytest.raises(LeadFeatureError, match="unknown sources"):
        lead_matrix(leads.assign(source="carrier-pigeon"))
    with pytest.raises(LeadFeatureError, match="finite"):
        lead_matrix(leads.assign(avg_response_time_h=np.nan))
    with pytest.raises(LeadFeatureError, match="unknown LADA"):
        lead_row({**leads.iloc[0].to_dict(), "lada": "9"})
