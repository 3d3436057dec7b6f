"""Simulated leads with a known ground truth: who converts, and how likely it was.

There is no real lead data here, so the lead-quality models learn from a simulator whose
conversion probability is known exactly. :func:`true_logit` is the ground truth's observable
part: a phone that is valid and mobile, WhatsApp (more so on a mobile line), other platforms
with diminishing returns, a richer state and a metropolitan LADA, the lead's source, recency
(decaying over about three months, and a purchased list that old is worse still), clicks and
opens, quick responses, a validation in business hours, and repeated validations. On top of it
every lead carries unobserved intent (normal noise of :data:`LATENT_SD` on the logit), so the
best possible model knows only ``true_p = E[sigmoid(true_logit + noise)]`` (computed here by
Gauss-Hermite quadrature), and ``converted`` is drawn from it. The same seed gives the same
leads.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from ssmas.campaigns.quality.features import (
    LINE_TYPES,
    PLATFORM_COLUMNS,
    SOURCES,
    lada_geography,
)

LATENT_SD = 0.6
INTERCEPT = -3.3
LINE_EFFECT = {
    "mobile": 0.5,
    "fixed_line_or_mobile": 0.2,
    "fixed_line": -0.5,
    "voip": -1.2,
    "unknown": -0.8,
}
SOURCE_EFFECT = {
    "organic": 0.3,
    "referral": 0.8,
    "paid_social": 0.0,
    "paid_search": 0.15,
    "event": 0.5,
    "purchased_list": -0.9,
}
TIER_EFFECT = {1.0: 0.25, 2.0: 0.1, 3.0: 0.0}
_LINE_SHARE = (0.7, 0.1, 0.12, 0.03, 0.05)
_SOURCE_SHARE = (0.3, 0.1, 0.25, 0.15, 0.05, 0.15)
_TIER_WEIGHT = {1.0: 8.0, 2.0: 2.0, 3.0: 1.0}
FloatArray = npt.NDArray[np.float64]


def _sigmoid(z: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-z))


def true_logit(leads: pd.DataFrame) -> FloatArray:
    """The observable part of the ground truth's log-odds of converting, per lead."""
    geography = lada_geography()
    codes = leads["lada"].astype(str)
    tier = codes.map(lambda c: geography[c][0]).to_numpy(np.float64)
    econ = codes.map(lambda c: geography[c][1]).to_numpy(np.float64)
    mobile = (leads["line_type"] == "mobile").to_numpy(np.float64)
    whatsapp = leads["whatsapp_active"].to_numpy(np.float64)
    others = leads[list(PLATFORM_COLUMNS[1:])].to_numpy(np.float64).sum(axis=1)
    days = leads["days_since_last_validation"].to_numpy(np.float64)
    purchased = (leads["source"] == "purchased_list").to_numpy(np.float64)
    clicks = leads["links_clicked_30d"].to_numpy(np.float64)
    opens = leads["messages_opened_30d"].to_numpy(np.float64)
    hour = leads["validated_hour"].to_numpy(np.float64)
    weekday = leads["validated_weekday"].to_numpy(np.float64)
    business = ((hour >= 9) & (hour < 19) & (weekday < 5)).astype(np.float64)
    z = (
        INTERCEPT
        + np.where(leads["phone_valid"].to_numpy(bool), 0.0, -3.0)
        + leads["line_type"].map(LINE_EFFECT).to_numpy(np.float64)
        + 0.9 * whatsapp
        + 0.35 * whatsapp * mobile
        + 0.6 * (1.0 - np.exp(-0.6 * others))
        + 0.8 * np.clip(econ - 1.0, -0.6, 1.0)
        + np.vectorize(TIER_EFFECT.__getitem__, otypes=[np.float64])(tier)
        + leads["source"].map(SOURCE_EFFECT).to_numpy(np.float64)
        - 1.1 * (1.0 - np.exp(-days / 90.0))
        - 0.5 * purchased * (days > 180)
        + 1.0 * np.tanh(clicks / 3.0)
        + 0.4 * np.tanh(opens / 8.0)
        - 0.5 * np.tanh(leads["avg_response_time_h"].to_numpy(np.float64) / 24.0)
        + 0.2 * business
        + 0.15 * np.log1p(leads["validation_count"].to_numpy(np.float64) - 1.0)
    )
    return np.asarray(z, dtype=np.float64)


def true_probability(logit: FloatArray, latent_sd: float = LATENT_SD) -> FloatArray:
    """``E[sigmoid(logit + N(0, latent_sd²))]`` by 32-point Gauss-Hermite quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(32)
    weights = weights / weights.sum()
    return np.asarray(_sigmoid(logit[:, None] + latent_sd * nodes[None, :]) @ weights)


def simulate_leads(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` leads with the raw fields of ``LEAD_FIELDS``, ``true_p`` and ``converted``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    geography = lada_geography()
    codes = sorted(geography)
    weights = np.array([_TIER_WEIGHT[geography[c][0]] for c in codes])
    lada = rng.choice(np.array(codes, dtype=object), size=n, p=weights / weights.sum())
    econ = np.array([geography[c][1] for c in lada])
    valid = rng.random(n) < 0.9
    line = rng.choice(np.array(LINE_TYPES, dtype=object), size=n, p=_LINE_SHARE)
    line = np.where(valid, line, "unknown")
    mobile = line == "mobile"
    # Platform presence: WhatsApp follows mobile lines, Apple follows income.
    presence = {
        "whatsapp_active": rng.random(n) < np.where(mobile, 0.88, 0.45),
        "instagram_active": rng.random(n) < 0.45,
        "facebook_active": rng.random(n) < 0.6,
        "google_active": rng.random(n) < 0.5,
        "apple_active": rng.random(n) < np.clip(0.12 + 0.15 * econ, 0.0, 0.6),
    }
    days = np.minimum(rng.exponential(60.0, n), 3650).astype(np.int64)
    interest = rng.gamma(1.5, 3.0, n)  # how much a lead reads what it is sent
    opens = np.minimum(rng.poisson(interest), 10_000)
    clicks = rng.binomial(opens, 0.15)
    hour = np.where(rng.random(n) < 0.7, rng.integers(9, 19, n), rng.integers(0, 24, n)).astype(
        np.int64
    )
    leads = pd.DataFrame(
        {
            "phone_valid": valid,
            "line_type": line.astype(str),
            "lada": lada.astype(str),
            **presence,
            "avg_response_time_h": np.round(np.minimum(rng.lognormal(np.log(4.0), 1.2, n), 720), 2),
            "source": rng.choice(np.array(SOURCES, dtype=object), size=n, p=_SOURCE_SHARE).astype(
                str
            ),
            "validated_hour": hour,
            "validated_weekday": rng.integers(0, 7, n).astype(np.int64),
            "validation_count": 1 + rng.poisson(1.0, n).astype(np.int64),
            "days_since_last_validation": days,
            "lead_age_days": days + rng.exponential(120.0, n).astype(np.int64),
            "messages_opened_30d": opens.astype(np.int64),
            "links_clicked_30d": clicks.astype(np.int64),
        }
    )
    true_p = true_probability(true_logit(leads))
    leads["true_p"] = true_p
    leads["converted"] = rng.random(n) < true_p
    return leads
