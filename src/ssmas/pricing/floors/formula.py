"""Dynamic floor prices: seed 003's ``calculateDynamicFloor``, scalar and vectorised (the only
vector form: floor serving and the floor simulation both use it).

``floor = clip(predicted_cpm x confidence_factor x competition_multiplier, min_floor, max_floor)``,
rounded to 4 decimals. The confidence factor grows with the history behind the prediction; the
competition multiplier rewards prime time (19-23 h) and premium inventory. A publisher can switch
floors off, bound the combined multiplier, move the min / max and keep a control share of
impressions unfloored (like Prebid's ``skipRate``), assigned sticky by a hash of the impression id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ssmas.pricing.model.features import PRIME_TIME_BY_HOUR
from ssmas.pricing.schemas import FloorReason
from ssmas.pricing.variants import hash_unit, hash_units

CONTROL_SALT = "ssmas.pricing.floor-control"
SEED_MIN_FLOOR = 0.5
SEED_MAX_FLOOR = 10.0
SEED_FALLBACK_FLOOR = 2.0
# (history strictly above, factor), checked in order; fewer than 11 data points -> 0.60.
CONFIDENCE_STEPS: tuple[tuple[int, float], ...] = ((1000, 0.95), (100, 0.85), (10, 0.75))
LOW_CONFIDENCE = 0.60
BOTH_MULTIPLIER = 1.10
ONE_MULTIPLIER = 1.05


FloatArray = npt.NDArray[np.float64]


class FloorError(ValueError):
    """A floor cannot be computed from the given inputs (e.g. a non-finite prediction)."""


class PublisherFloorConfig(BaseModel):
    """Per-publisher floor settings; the defaults reproduce the seed's formula exactly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    min_floor: float = Field(default=SEED_MIN_FLOOR, ge=0.0, allow_inf_nan=False)
    max_floor: float = Field(default=SEED_MAX_FLOOR, gt=0.0, allow_inf_nan=False)
    multiplier_min: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    multiplier_max: float = Field(default=2.0, gt=0.0, allow_inf_nan=False)
    control_share: float = Field(default=0.0, ge=0.0, le=1.0)
    fallback_floor: float = Field(default=SEED_FALLBACK_FLOOR, ge=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> PublisherFloorConfig:
        if self.min_floor > self.max_floor:
            raise ValueError("min_floor must not exceed max_floor")
        if self.multiplier_min > self.multiplier_max:
            raise ValueError("multiplier_min must not exceed multiplier_max")
        return self


DEFAULT_CONFIG = PublisherFloorConfig()


@dataclass(frozen=True, slots=True)
class FloorDecision:
    """One impression's floor (``None`` when unfloored) and why."""

    floor: float | None
    reason: FloorReason
    confidence_factor: float
    competition_multiplier: float


def confidence_factor(data_points: int) -> float:
    """Seed ``getConfidenceFactor``: more history behind a prediction, more of it is trusted."""
    for above, factor in CONFIDENCE_STEPS:
        if data_points > above:
            return factor
    return LOW_CONFIDENCE


def competition_multiplier(hour_of_day: int, inventory_type: str) -> float:
    """Seed ``getCompetitionMultiplier``: 1.10 prime time and premium, 1.05 either, else 1.0."""
    prime = bool(PRIME_TIME_BY_HOUR[hour_of_day])
    premium = inventory_type == "premium"
    if prime and premium:
        return BOTH_MULTIPLIER
    if prime or premium:
        return ONE_MULTIPLIER
    return 1.0


def confidence_factors(data_points: npt.ArrayLike) -> FloatArray:
    """Vector form of :func:`confidence_factor` (the same steps)."""
    points = np.asarray(data_points)
    factors = np.full(points.shape, LOW_CONFIDENCE)
    for above, factor in reversed(CONFIDENCE_STEPS):
        factors[points > above] = factor
    return factors


def competition_multipliers(hour_of_day: npt.ArrayLike, is_premium: npt.ArrayLike) -> FloatArray:
    """Vector form of :func:`competition_multiplier`; ``is_premium`` is ``inventory_type ==
    "premium"``."""
    prime = PRIME_TIME_BY_HOUR[np.asarray(hour_of_day, dtype=np.int64)].astype(np.bool_)
    premium = np.asarray(is_premium, dtype=np.bool_)
    both, either = prime & premium, prime | premium
    return np.asarray(
        np.where(both, BOTH_MULTIPLIER, np.where(either, ONE_MULTIPLIER, 1.0)), dtype=np.float64
    )


def dynamic_floor(
    predicted_cpm: float,
    *,
    data_points: int,
    hour_of_day: int,
    inventory_type: str,
    config: PublisherFloorConfig = DEFAULT_CONFIG,
) -> float:
    """Seed ``calculateDynamicFloor`` for one impression, in EUR (ignores enabled / control)."""
    if not np.isfinite(predicted_cpm):
        raise FloorError(f"predicted_cpm must be finite, got {predicted_cpm!r}")
    multiplier = confidence_factor(data_points) * competition_multiplier(
        hour_of_day, inventory_type
    )
    multiplier = min(max(multiplier, config.multiplier_min), config.multiplier_max)
    floor = min(max(predicted_cpm * multiplier, config.min_floor), config.max_floor)
    return float(np.round(floor, 4))


def dynamic_floors(
    predicted_cpm: npt.ArrayLike,
    *,
    data_points: npt.ArrayLike,
    hour_of_day: npt.ArrayLike,
    is_premium: npt.ArrayLike,
    config: PublisherFloorConfig = DEFAULT_CONFIG,
) -> FloatArray:
    """Vector form of :func:`dynamic_floor`; ``is_premium`` is ``inventory_type == "premium"``."""
    predicted = np.asarray(predicted_cpm, dtype=np.float64)
    if not np.all(np.isfinite(predicted)):
        raise FloorError("predicted_cpm must be finite for every impression")
    confidence = confidence_factors(data_points)
    competition = competition_multipliers(hour_of_day, is_premium)
    multiplier = np.clip(confidence * competition, config.multiplier_min, config.multiplier_max)
    floors = np.clip(predicted * multiplier, config.min_floor, config.max_floor)
    return np.asarray(np.round(floors, 4), dtype=np.float64)


def assign_control(impression_id: str, share: float) -> bool:
    """True when ``impression_id`` falls in the unfloored control share (sticky, stable hash)."""
    if share <= 0.0:
        return False
    return hash_unit(impression_id, CONTROL_SALT) < share


def control_mask(impression_ids: Iterable[str], share: float) -> npt.NDArray[np.bool_]:
    """Vector form of :func:`assign_control`."""
    units = hash_units(impression_ids, CONTROL_SALT)
    if share <= 0.0:
        return np.zeros(units.shape, dtype=np.bool_)
    return units < share


def decide_floor(
    impression_id: str,
    predicted_cpm: float,
    *,
    data_points: int,
    hour_of_day: int,
    inventory_type: str,
    config: PublisherFloorConfig = DEFAULT_CONFIG,
) -> FloorDecision:
    """The floor to send for one impression under ``config``: dynamic, control or disabled."""
    cf = confidence_factor(data_points)
    cm = competition_multiplier(hour_of_day, inventory_type)
    if not config.enabled:
        return FloorDecision(None, "disabled", cf, cm)
    if assign_control(impression_id, config.control_share):
        return FloorDecision(None, "control", cf, cm)
    floor = dynamic_floor(
        predicted_cpm,
        data_points=data_points,
        hour_of_day=hour_of_day,
        inventory_type=inventory_type,
        config=config,
    )
    return FloorDecision(floor, "dynamic", cf, cm)


def fallback_decision(config: PublisherFloorConfig = DEFAULT_CONFIG) -> FloorDecision:
    """The static floor used when no model answers in time (seed's ``fallbackCPM``)."""
    return FloorDecision(config.fallback_floor, "fallback", 1.0, 1.0)


def decide_floors(
    impression_ids: Iterable[str],
    predicted_cpm: npt.ArrayLike,
    *,
    data_points: npt.ArrayLike,
    hour_of_day: npt.ArrayLike,
    is_premium: npt.ArrayLike,
    config: PublisherFloorConfig = DEFAULT_CONFIG,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Vector form of :func:`decide_floor`: floors (NaN = unfloored) and the control mask."""
    floors = dynamic_floors(
        predicted_cpm,
        data_points=data_points,
        hour_of_day=hour_of_day,
        is_premium=is_premium,
        config=config,
    )
    control = control_mask(impression_ids, config.control_share)
    if control.shape != floors.shape:
        raise FloorError(f"{control.size} impression ids for {floors.size} predictions")
    if not config.enabled:
        return np.full(floors.shape, np.nan), np.zeros(floors.shape, dtype=np.bool_)
    return np.where(control, np.nan, floors), control
