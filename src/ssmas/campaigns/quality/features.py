"""The seed's lead features (``AdvancedLeadQualityPredictor.prepare_features``) as one matrix.

A lead arrives as the raw fields of :data:`LEAD_FIELDS` (what validation, the platform-presence
checks and the lead's history say about it); :func:`lead_matrix` turns a frame of leads into the
float32 matrix of :data:`FEATURES` every model of the ensemble reads, and :func:`lead_row` does
the same for one lead given as a mapping (the single-lead route; a test holds the two equal).

Geography is the LADA's: ``lada_tier`` (1 for the two-digit metropolitan codes of Mexico City,
Guadalajara and Monterrey, 2 for a state capital, 3 elsewhere) and ``state_economic_index``
(:data:`STATE_ECONOMIC_INDEX`).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ssmas.campaigns.phone import lada_catalogue

PLATFORMS: tuple[str, ...] = ("whatsapp", "instagram", "facebook", "google", "apple")
PLATFORM_COLUMNS: tuple[str, ...] = tuple(f"{p}_active" for p in PLATFORMS)
# Reach of each platform for a marketing message: WhatsApp first in Mexico.
SOCIAL_WEIGHTS: tuple[float, ...] = (0.35, 0.2, 0.25, 0.1, 0.1)
LINE_TYPES: tuple[str, ...] = ("mobile", "fixed_line_or_mobile", "fixed_line", "voip", "unknown")
SOURCES: tuple[str, ...] = (
    "organic",
    "referral",
    "paid_social",
    "paid_search",
    "event",
    "purchased_list",
)
LEAD_FIELDS: tuple[str, ...] = (
    "phone_valid",
    "line_type",
    "lada",
    *PLATFORM_COLUMNS,
    "avg_response_time_h",
    "source",
    "validated_hour",
    "validated_weekday",
    "validation_count",
    "days_since_last_validation",
    "lead_age_days",
    "messages_opened_30d",
    "links_clicked_30d",
)
FEATURES: tuple[str, ...] = (
    "phone_valid",
    *(f"line_{t}" for t in LINE_TYPES),
    "lada_tier",
    "state_economic_index",
    *PLATFORM_COLUMNS,
    "platform_count",
    "platform_diversity",
    "social_connectivity_score",
    "avg_response_time_log",
    *(f"source_{s}" for s in SOURCES),
    "hour_of_validation",
    "day_of_week",
    "is_weekend",
    "validation_frequency",
    "days_since_last_validation",
    "lead_age_days",
    "messages_opened_30d",
    "links_clicked_30d",
    "click_rate",
)
N_FEATURES = len(FEATURES)

# GDP per head of each state relative to the national figure, rounded to 0.05 from INEGI's
# state accounts (approximate: a feature of the simulation and the model, not a statistic).
STATE_ECONOMIC_INDEX: dict[str, float] = {
    "Aguascalientes": 1.15,
    "Baja California": 1.15,
    "Baja California Sur": 1.3,
    "Campeche": 2.0,
    "Coahuila": 1.4,
    "Colima": 1.0,
    "Chiapas": 0.4,
    "Chihuahua": 1.15,
    "Ciudad de México": 2.25,
    "Durango": 0.85,
    "Guanajuato": 0.85,
    "Guerrero": 0.5,
    "Hidalgo": 0.65,
    "Jalisco": 1.05,
    "Estado de México": 0.65,
    "Michoacán": 0.65,
    "Morelos": 0.7,
    "Nayarit": 0.7,
    "Nuevo León": 1.65,
    "Oaxaca": 0.5,
    "Puebla": 0.65,
    "Querétaro": 1.3,
    "Quintana Roo": 1.1,
    "San Luis Potosí": 0.95,
    "Sinaloa": 0.9,
    "Sonora": 1.3,
    "Tabasco": 1.0,
    "Tamaulipas": 1.0,
    "Tlaxcala": 0.55,
    "Veracruz": 0.65,
    "Yucatán": 0.9,
    "Zacatecas": 0.75,
}
STATE_CAPITALS: frozenset[str] = frozenset(
    {
        "aguascalientes", "mexicali", "la paz", "campeche", "saltillo", "colima",
        "tuxtla gutierrez", "chihuahua", "durango", "guanajuato", "chilpancingo", "pachuca",
        "toluca", "morelia", "cuernavaca", "tepic", "oaxaca", "puebla", "queretaro",
        "chetumal", "san luis potosi", "culiacan", "hermosillo", "villahermosa",
        "ciudad victoria", "tlaxcala", "xalapa", "merida", "zacatecas",
    }
)  # fmt: skip
FloatMatrix = npt.NDArray[np.float32]


class LeadFeatureError(ValueError):
    """Leads the features cannot be computed for (a missing column, an unknown LADA…)."""


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.lower().split())


@cache
def lada_geography() -> dict[str, tuple[float, float]]:
    """``LADA code → (lada_tier, state_economic_index)`` for every code of the catalogue."""
    table = {}
    for lada in lada_catalogue():
        tier = 1.0 if len(lada.code) == 2 else 2.0 if _fold(lada.city) in STATE_CAPITALS else 3.0
        table[lada.code] = (tier, STATE_ECONOMIC_INDEX[lada.state])
    return table


@cache
def _lada_index() -> tuple[pd.Index, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    table = lada_geography()
    codes = sorted(table)
    tiers = np.array([table[c][0] for c in codes])
    econ = np.array([table[c][1] for c in codes])
    return pd.Index(codes), tiers, econ


def _positions(values: pd.Series, levels: pd.Index, what: str) -> npt.NDArray[np.intp]:
    """Each value's position in ``levels`` (a hash lookup per value, in C)."""
    found = levels.get_indexer(pd.Index(values.astype(str)))
    if (found < 0).any():
        unknown = sorted(set(values[found < 0].astype(str)))
        raise LeadFeatureError(f"unknown {what}: {unknown[:5]}")
    return np.asarray(found, dtype=np.intp)


def _geography(ladas: pd.Series) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    codes, tiers, econ = _lada_index()
    found = _positions(ladas, codes, "LADA codes")
    return tiers[found], econ[found]


def _one_hot(values: pd.Series, levels: tuple[str, ...], what: str) -> list[Any]:
    try:
        found = _positions(values, pd.Index(levels), what)
    except LeadFeatureError as exc:
        raise LeadFeatureError(f"{exc} (use one of {list(levels)})") from None
    return list(np.eye(len(levels))[found].T)


def lead_matrix(leads: pd.DataFrame) -> FloatMatrix:
    """The (rows, ``N_FEATURES``) float32 feature matrix of a frame of raw lead fields."""
    missing = [c for c in LEAD_FIELDS if c not in leads.columns]
    if missing:
        raise LeadFeatureError(f"missing lead fields: {missing}")
    flags = leads[list(PLATFORM_COLUMNS)].to_numpy(np.float64)
    count = flags.sum(axis=1)
    # pandas' std (ddof=1) over the five flags, as the seed's platform_diversity
    diversity = flags.std(axis=1, ddof=1)
    social = flags @ np.asarray(SOCIAL_WEIGHTS)
    tier, econ = _geography(leads["lada"])
    weekday = leads["validated_weekday"].to_numpy(np.float64)
    opened = leads["messages_opened_30d"].to_numpy(np.float64)
    clicked = leads["links_clicked_30d"].to_numpy(np.float64)
    columns = [
        leads["phone_valid"].to_numpy(np.float64),
        *_one_hot(leads["line_type"], LINE_TYPES, "line types"),
        tier,
        econ,
        *flags.T,
        count,
        diversity,
        social,
        np.log1p(leads["avg_response_time_h"].to_numpy(np.float64)),
        *_one_hot(leads["source"], SOURCES, "sources"),
        leads["validated_hour"].to_numpy(np.float64),
        weekday,
        (weekday >= 5).astype(np.float64),
        leads["validation_count"].to_numpy(np.float64),
        leads["days_since_last_validation"].to_numpy(np.float64),
        leads["lead_age_days"].to_numpy(np.float64),
        opened,
        clicked,
        clicked / np.maximum(opened, 1.0),
    ]
    matrix = np.column_stack(columns).astype(np.float32)
    if not np.isfinite(matrix).all():
        raise LeadFeatureError("lead fields must be finite numbers")
    return matrix


def lead_row(lead: Mapping[str, Any]) -> FloatMatrix:
    """The (1, ``N_FEATURES``) matrix of one lead: :func:`lead_matrix` without pandas."""
    geography = lada_geography().get(str(lead["lada"]))
    if geography is None:
        raise LeadFeatureError(f"unknown LADA code: {lead['lada']!r}")
    if lead["line_type"] not in LINE_TYPES or lead["source"] not in SOURCES:
        raise LeadFeatureError("unknown line type or source")
    flags = [float(lead[c]) for c in PLATFORM_COLUMNS]
    count = sum(flags)
    mean = count / len(flags)
    diversity = math.sqrt(sum((f - mean) ** 2 for f in flags) / (len(flags) - 1))
    weekday = float(lead["validated_weekday"])
    opened = float(lead["messages_opened_30d"])
    clicked = float(lead["links_clicked_30d"])
    values = [
        float(lead["phone_valid"]),
        *(1.0 if lead["line_type"] == t else 0.0 for t in LINE_TYPES),
        *geography,
        *flags,
        count,
        diversity,
        sum(f * w for f, w in zip(flags, SOCIAL_WEIGHTS, strict=True)),
        math.log1p(float(lead["avg_response_time_h"])),
        *(1.0 if lead["source"] == s else 0.0 for s in SOURCES),
        float(lead["validated_hour"]),
        weekday,
        1.0 if weekday >= 5 else 0.0,
        float(lead["validation_count"]),
        float(lead["days_since_last_validation"]),
        float(lead["lead_age_days"]),
        opened,
        clicked,
        clicked / max(opened, 1.0),
    ]
    return np.asarray([values], dtype=np.float32)
