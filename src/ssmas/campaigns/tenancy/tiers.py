"""Tiers: each one's quotas and prices (the seed's ``_calculate_quotas(tier)``).

Quotas are what a tenant may use (messages a UTC day, phone validations a minute, experiments
running at once); prices turn a month's metered usage into invoice lines, in EUR as
:class:`~decimal.Decimal` (money is never a float in a ledger).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = ["METRICS", "TIERS", "Quotas", "Tier", "TierName", "tier_of"]

TierName = Literal["starter", "growth", "enterprise"]

# Metered metrics: what usage records count.
METRICS = ("validations", "leads_imported", "messages")


@dataclass(frozen=True, slots=True)
class Quotas:
    """What one tenant may use."""

    messages_per_day: int
    validations_per_minute: int
    experiments: int


@dataclass(frozen=True, slots=True)
class Tier:
    """A plan: its quotas, its monthly fee and the unit price of each metered metric."""

    name: TierName
    quotas: Quotas
    monthly_fee: Decimal
    unit_prices: dict[str, Decimal]


TIERS: dict[str, Tier] = {
    "starter": Tier(
        "starter",
        Quotas(messages_per_day=1_000, validations_per_minute=10_000, experiments=2),
        Decimal("49.00"),
        {
            "validations": Decimal("0.0005"),
            "leads_imported": Decimal("0.0010"),
            "messages": Decimal("0.0400"),
        },
    ),
    "growth": Tier(
        "growth",
        Quotas(messages_per_day=50_000, validations_per_minute=200_000, experiments=10),
        Decimal("299.00"),
        {
            "validations": Decimal("0.0003"),
            "leads_imported": Decimal("0.0005"),
            "messages": Decimal("0.0300"),
        },
    ),
    "enterprise": Tier(
        "enterprise",
        Quotas(messages_per_day=1_000_000, validations_per_minute=5_000_000, experiments=100),
        Decimal("1999.00"),
        {
            "validations": Decimal("0.0001"),
            "leads_imported": Decimal("0.0002"),
            "messages": Decimal("0.0200"),
        },
    ),
}


def tier_of(name: str) -> Tier:
    """The tier called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return TIERS[name]
    except KeyError:
        raise ValueError(f"unknown tier {name!r} (known: {', '.join(TIERS)})") from None
