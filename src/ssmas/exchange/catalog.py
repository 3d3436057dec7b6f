"""Fixed vocabularies of the exchange world: formats, sizes, countries and tiers, devices, channels.

The order of every tuple is part of the data contract: Parquet columns store these values as
dictionary codes, and the simulator indexes effect tables by position.
"""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("banner", "video", "native", "interstitial")
INVENTORY_TYPES: tuple[str, ...] = ("premium", "standard", "remnant")
DEVICES: tuple[str, ...] = ("mobile", "tablet", "desktop")
AUCTION_TYPES: tuple[str, ...] = ("second_price", "first_price")

# Sizes each format is sold in; the last entry of ``SIZES`` marks a broken ad-unit setup.
SIZES_BY_FORMAT: dict[str, tuple[str, ...]] = {
    "banner": ("300x250", "728x90", "320x50", "300x600", "970x250"),
    "video": ("640x360", "1280x720"),
    "native": ("fluid", "1200x627"),
    "interstitial": ("320x480", "768x1024"),
}
MISCONFIGURED_SIZE = "1x1"
SIZES: tuple[str, ...] = (
    *(size for sizes in SIZES_BY_FORMAT.values() for size in sizes),
    MISCONFIGURED_SIZE,
)

# Country tiers as the pricing seed defines them: tier 1 and tier 2 are listed, tier 3 is the rest.
TIER1: tuple[str, ...] = ("ES", "FR", "DE", "IT", "UK", "US")
TIER2: tuple[str, ...] = ("PT", "NL", "BE", "CH", "AT", "SE")
TIER3: tuple[str, ...] = ("MX", "AR", "CO", "CL", "PE", "BR", "MA", "PL", "RO", "IN")
COUNTRIES: tuple[str, ...] = (*TIER1, *TIER2, *TIER3)


def country_tier(country: str) -> int:
    """Tier 1, 2 or 3 of an ISO-like country code (unknown countries are tier 3)."""
    if country in TIER1:
        return 1
    if country in TIER2:
        return 2
    return 3


COUNTRY_TIERS: tuple[int, ...] = tuple(country_tier(c) for c in COUNTRIES)

DEMAND_CHANNELS: tuple[str, ...] = (
    "open_rtb",
    "header_bidding",
    "private_marketplace",
    "programmatic_guaranteed",
)

# Normal traffic sources, then the invalid-traffic source only a fault scenario produces.
TRAFFIC_SOURCES: tuple[str, ...] = ("direct", "search", "social", "referral", "bot_network")
INVALID_SOURCE = "bot_network"

PARTNER_NAMES: tuple[str, ...] = (
    "northbid",
    "atlasdsp",
    "meridian",
    "corvus",
    "lumen",
    "tidal",
    "brisa",
    "kestrel",
    "orbit",
    "sable",
)

DOMAIN_STEMS: tuple[str, ...] = (
    "diario",
    "noticias",
    "deportes",
    "recetas",
    "motor",
    "viajes",
    "tecno",
    "moda",
    "salud",
    "finanzas",
    "cine",
    "musica",
    "juegos",
    "hogar",
    "ciencia",
    "mascotas",
)
DOMAIN_SUFFIXES: tuple[str, ...] = ("hoy", "digital", "24", "plus", "total", "club", "press")
DOMAIN_TLDS: tuple[str, ...] = (".es", ".com", ".net")
