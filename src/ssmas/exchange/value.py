"""What an impression is worth to the market: a log-linear value model over the /predict features.

The common value of an impression is ``exp(log_value)`` EUR CPM; every partner bids around it
(see ``demand.py``). Features move the value in a learnable way, so a pricing model can beat
per-segment means; a residual term keeps it from being perfectly predictable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssmas.exchange.params import WorldParams

# Local-time shape of prices over the day: cheap at night, dearest in the evening prime time.
_HOUR_SHAPE = np.array(
    [
        -0.10, -0.18, -0.25, -0.30, -0.30, -0.25, -0.15, -0.05,
        0.00, 0.02, 0.03, 0.04, 0.05, 0.05, 0.03, 0.02,
        0.03, 0.06, 0.10, 0.15, 0.20, 0.22, 0.18, 0.05,
    ],
    dtype=np.float32,
)  # fmt: skip
# Monday (index 0, day_of_week 1) to Sunday: advertisers spend more on weekdays.
_DOW_SHAPE = np.array([0.04, 0.06, 0.06, 0.05, 0.0, -0.10, -0.08], dtype=np.float32)

CTR_REFERENCE = 0.0025  # typical display click-through rate
ENGAGEMENT_FLOOR = 0.03


@dataclass(frozen=True)
class ValueModel:
    """Coefficients of the log-CPM value of an impression (EUR)."""

    base: float
    format_effect: tuple[float, ...]  # banner, video, native, interstitial
    inventory_effect: tuple[float, ...]  # premium, standard, remnant
    tier_effect: tuple[float, ...]  # tier 1, 2, 3
    device_effect: tuple[float, ...]  # mobile, tablet, desktop
    hour_effect: tuple[float, ...]  # 24 values, hour of day
    dow_effect: tuple[float, ...]  # 7 values, Monday first
    engagement_coef: float
    ctr_coef: float
    performance_coef: float
    residual_sigma: float  # per-impression value not explained by the features

    def log_value(
        self,
        *,
        fmt: np.ndarray,
        inventory: np.ndarray,
        tier: np.ndarray,
        device: np.ndarray,
        hour: np.ndarray,
        dow: np.ndarray,
        publisher_quality: np.ndarray,
        engagement: np.ndarray,
        ctr: np.ndarray,
        performance: np.ndarray,
    ) -> np.ndarray:
        """Feature part of the log value (no residual); ``tier`` is 1..3, ``dow`` is 1..7."""
        out = np.asarray(self.format_effect, dtype=np.float32)[fmt]
        out += np.asarray(self.inventory_effect, dtype=np.float32)[inventory]
        out += np.asarray(self.tier_effect, dtype=np.float32)[tier - 1]
        out += np.asarray(self.device_effect, dtype=np.float32)[device]
        out += np.asarray(self.hour_effect, dtype=np.float32)[hour]
        out += np.asarray(self.dow_effect, dtype=np.float32)[dow - 1]
        out += publisher_quality
        # Concave in engagement: disengaged users are worth far less, the engaged a bit more.
        out += np.float32(self.engagement_coef) * (
            np.log(engagement + np.float32(ENGAGEMENT_FLOOR)) - np.float32(np.log(0.48))
        )
        out += np.float32(self.ctr_coef) * np.log(np.maximum(ctr, 1e-5) / CTR_REFERENCE)
        out += np.float32(self.performance_coef) * (performance - np.float32(0.6))
        out += np.float32(self.base)
        return np.asarray(out, dtype=np.float32)


def default_value_model(rng: np.random.Generator, params: WorldParams) -> ValueModel:
    """The network's value model: ``params`` effects with small seeded perturbations."""

    def jitter(values: tuple[float, ...], scale: float) -> tuple[float, ...]:
        noise = rng.normal(0.0, scale, len(values))
        return tuple(float(v + n) for v, n in zip(values, noise, strict=True))

    return ValueModel(
        base=float(np.log(params.base_cpm)),
        format_effect=jitter(params.format_effect, 0.02),
        inventory_effect=jitter(params.inventory_effect, 0.02),
        tier_effect=jitter(params.tier_effect, 0.02),
        device_effect=jitter(params.device_effect, 0.02),
        hour_effect=tuple(float(v) for v in _HOUR_SHAPE),
        dow_effect=tuple(float(v) for v in _DOW_SHAPE),
        engagement_coef=params.engagement_coef,
        ctr_coef=params.ctr_coef,
        performance_coef=params.performance_coef,
        residual_sigma=params.residual_sigma,
    )
