"""The calibrated constants of the world, in one place.

The defaults were tuned (``docs/exchange.md``) so that clearing prices match the shape of real
iPinYou prices, while features still explain most of an impression's value and thin auctions
leave room for dynamic floors. Each ``(low, high)`` pair is a uniform range drawn per entity.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorldParams:
    """Knobs of ``build_world``: value model, demand partners and publisher floors."""

    base_cpm: float = 0.9
    format_effect: tuple[float, ...] = (0.0, 0.42, 0.1, 0.23)  # banner video native interstitial
    inventory_effect: tuple[float, ...] = (0.3, 0.0, -1.3)  # premium standard remnant
    tier_effect: tuple[float, ...] = (0.12, 0.0, -0.28)
    device_effect: tuple[float, ...] = (0.0, 0.05, 0.15)  # mobile tablet desktop
    engagement_coef: float = 0.78
    ctr_coef: float = 0.3
    performance_coef: float = 0.5
    residual_sigma: float = 0.09
    publisher_quality_sd: float = 0.2
    partner_sigma: tuple[float, float] = (0.135, 0.225)
    tail_prob: tuple[float, float] = (0.03, 0.08)
    tail_shift: tuple[float, float] = (0.15, 0.25)
    open_participation: tuple[float, float] = (0.41, 0.53)
    deal_participation: tuple[float, float] = (0.21, 0.31)
    reach_miss: float = 0.25  # share of (partner, segment) pairs a partner does not buy
    reach_low: float = 0.05  # residual bid probability on segments a partner does not buy
    floor_share: tuple[float, float] = (0.26, 1.1)  # static floor / unit's typical value
    first_price_share: float = 0.1
    format_mix: tuple[float, ...] = (0.55, 0.15, 0.2, 0.1)  # network traffic share per format
    inventory_mix: tuple[float, ...] = (0.25, 0.5, 0.25)  # premium, standard, remnant


DEFAULT_PARAMS = WorldParams()
