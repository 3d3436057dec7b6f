"""The publisher network and its demand: publishers, ad units, demand partners and the value model.

``build_world(seed)`` is a pure function of the seed: the same seed always gives the same world.
Entities are plain frozen dataclasses; ``World`` also exposes column arrays for vectorised lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ssmas.exchange import catalog
from ssmas.exchange.params import DEFAULT_PARAMS, WorldParams
from ssmas.exchange.value import ValueModel, default_value_model

WORLD_STREAM = 0  # spawn key of the random stream that builds the world
# Publishers set floors on a price ladder (EUR CPM), so thin auctions clear at round prices.
FLOOR_LADDER: tuple[float, ...] = (
    0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0
)  # fmt: skip


@dataclass(frozen=True)
class Publisher:
    """An "editor" of the network: one domain, a traffic share and an audience mix."""

    publisher_id: str
    domain: str
    quality: float  # additive log-CPM effect of the audience and brand safety
    traffic_share: float
    country_mix: tuple[float, ...]  # probabilities over ``catalog.COUNTRIES``
    device_mix: tuple[float, ...]  # probabilities over ``catalog.DEVICES``
    engagement_shift: float  # added to the user engagement mean of its audience


@dataclass(frozen=True)
class AdUnit:
    """A placement on a publisher page, sold in one format and size."""

    ad_unit_id: str
    publisher: int  # index into ``World.publishers``
    format: int  # index into ``catalog.FORMATS``
    size: str
    inventory: int  # index into ``catalog.INVENTORY_TYPES``
    auction: int  # index into ``catalog.AUCTION_TYPES``
    default_floor: float  # EUR CPM
    share: float  # share of all network requests


@dataclass(frozen=True)
class Partner:
    """A demand partner (bidder) with its bid distribution, reach and reliability."""

    name: str
    channel: int  # index into ``catalog.DEMAND_CHANNELS``
    offset: float  # log-CPM shift of its bids relative to the impression value
    sigma: float  # spread of its private valuation around the common value
    tail_prob: float  # probability of a high-intent bid (lognormal mixture component)
    tail_shift: float  # log-CPM shift of that component
    participation: float  # base probability of bidding on a request it receives
    format_reach: tuple[float, ...]  # participation multiplier per format
    tier_reach: tuple[float, ...]  # participation multiplier per country tier
    inventory_reach: tuple[float, ...]  # participation multiplier per inventory type
    device_reach: tuple[float, ...]  # participation multiplier per device
    latency_median_ms: float
    latency_sigma: float
    error_rate: float


@dataclass(frozen=True)
class World:
    """Everything that stays fixed while traffic flows; built by :func:`build_world`."""

    seed: int
    publishers: tuple[Publisher, ...]
    ad_units: tuple[AdUnit, ...]
    partners: tuple[Partner, ...]
    value: ValueModel

    @cached_property
    def unit_publisher(self) -> np.ndarray:
        return np.array([u.publisher for u in self.ad_units], dtype=np.int32)

    @cached_property
    def unit_format(self) -> np.ndarray:
        return np.array([u.format for u in self.ad_units], dtype=np.int8)

    @cached_property
    def unit_inventory(self) -> np.ndarray:
        return np.array([u.inventory for u in self.ad_units], dtype=np.int8)

    @cached_property
    def unit_auction(self) -> np.ndarray:
        return np.array([u.auction for u in self.ad_units], dtype=np.int8)

    @cached_property
    def unit_share(self) -> np.ndarray:
        share = np.array([u.share for u in self.ad_units], dtype=np.float64)
        return np.asarray(share / share.sum())

    @cached_property
    def publisher_quality(self) -> np.ndarray:
        return np.array([p.quality for p in self.publishers], dtype=np.float32)

    @cached_property
    def publisher_engagement_shift(self) -> np.ndarray:
        return np.array([p.engagement_shift for p in self.publishers], dtype=np.float32)

    @cached_property
    def country_cdf(self) -> np.ndarray:
        """Cumulative country distribution per publisher, shape (publishers, countries)."""
        return np.cumsum(np.array([p.country_mix for p in self.publishers]), axis=1)

    @cached_property
    def device_cdf(self) -> np.ndarray:
        return np.cumsum(np.array([p.device_mix for p in self.publishers]), axis=1)

    @cached_property
    def default_floors(self) -> dict[str, float]:
        return {u.ad_unit_id: u.default_floor for u in self.ad_units}

    def publisher_ids(self) -> list[str]:
        return [p.publisher_id for p in self.publishers]

    def partner_names(self) -> list[str]:
        return [p.name for p in self.partners]

    def ad_unit_index(self) -> dict[str, int]:
        return {u.ad_unit_id: i for i, u in enumerate(self.ad_units)}


def _country_mix(rng: np.random.Generator, profile: str) -> tuple[float, ...]:
    n = len(catalog.COUNTRIES)
    weights = rng.gamma(0.6, 1.0, n) * 0.02 + 1e-3
    es = catalog.COUNTRIES.index("ES")
    if profile == "local":
        weights[es] += 0.8
    elif profile == "latam":
        weights[es] += 0.35
        for code in ("MX", "AR", "CO", "CL", "PE"):
            weights[catalog.COUNTRIES.index(code)] += rng.uniform(0.05, 0.12)
    else:  # international audience
        for code in catalog.TIER1 + catalog.TIER2:
            weights[catalog.COUNTRIES.index(code)] += rng.uniform(0.02, 0.12)
        weights[es] += 0.2
    return tuple(float(w) for w in weights / weights.sum())


def _publishers(rng: np.random.Generator, count: int, quality_sd: float) -> tuple[Publisher, ...]:
    shares = 1.0 / np.arange(1, count + 1) ** 0.7 * rng.lognormal(0.0, 0.2, count)
    shares /= shares.sum()
    profiles = rng.choice(["local", "latam", "international"], size=count, p=[0.6, 0.2, 0.2])
    out: list[Publisher] = []
    used: set[str] = set()
    for i in range(count):
        while True:
            domain = (
                str(rng.choice(catalog.DOMAIN_STEMS))
                + str(rng.choice(catalog.DOMAIN_SUFFIXES))
                + str(rng.choice(catalog.DOMAIN_TLDS))
            )
            if domain not in used:
                used.add(domain)
                break
        mobile = rng.uniform(0.5, 0.8)
        tablet = rng.uniform(0.04, 0.1)
        out.append(
            Publisher(
                publisher_id=f"pub-{i + 1:03d}",
                domain=domain,
                quality=float(rng.normal(0.0, quality_sd)),
                traffic_share=float(shares[i]),
                country_mix=_country_mix(rng, str(profiles[i])),
                device_mix=(float(mobile), float(tablet), float(1.0 - mobile - tablet)),
                engagement_shift=float(rng.normal(0.0, 0.08)),
            )
        )
    return tuple(out)


def _ad_units(
    rng: np.random.Generator,
    publishers: tuple[Publisher, ...],
    value: ValueModel,
    params: WorldParams,
) -> tuple[AdUnit, ...]:
    units: list[AdUnit] = []
    format_p = np.asarray(params.format_mix)
    for p_idx, pub in enumerate(publishers):
        n_units = int(rng.integers(3, 9))
        weights = rng.dirichlet(np.full(n_units, 3.0))
        for slot in range(n_units):
            fmt = 0 if slot == 0 else int(rng.choice(4, p=format_p))
            sizes = catalog.SIZES_BY_FORMAT[catalog.FORMATS[fmt]]
            size = str(sizes[int(rng.integers(len(sizes)))])
            inventory = int(rng.choice(3, p=np.asarray(params.inventory_mix)))
            auction = 1 if rng.random() < params.first_price_share else 0
            typical = (
                value.base
                + value.format_effect[fmt]
                + value.inventory_effect[inventory]
                + pub.quality
            )
            target = float(np.exp(typical) * rng.uniform(*params.floor_share))
            floor = min(FLOOR_LADDER, key=lambda step: abs(np.log(step / target)))
            units.append(
                AdUnit(
                    ad_unit_id=f"{pub.publisher_id}-u{slot + 1}",
                    publisher=p_idx,
                    format=fmt,
                    size=size,
                    inventory=inventory,
                    auction=auction,
                    default_floor=floor,
                    share=float(pub.traffic_share * weights[slot]),
                )
            )
    shares = _balanced_shares(units, publishers, params)
    return tuple(replace(u, share=float(w)) for u, w in zip(units, shares, strict=True))


def _balanced_shares(
    units: list[AdUnit], publishers: tuple[Publisher, ...], params: WorldParams
) -> np.ndarray:
    """Unit traffic shares rescaled (iterative proportional fitting) so that publisher, format
    and inventory shares of the whole network hit their targets in every world: worlds differ
    in who is who, not in the market's overall composition."""
    share = np.array([u.share for u in units])
    margins = [
        (np.array([u.publisher for u in units]), np.array([p.traffic_share for p in publishers])),
        (np.array([u.format for u in units]), np.asarray(params.format_mix)),
        (np.array([u.inventory for u in units]), np.asarray(params.inventory_mix)),
    ]
    for _ in range(50):
        for keys, target in margins:
            current = np.bincount(keys, weights=share, minlength=target.shape[0])
            present = current > 0
            factor = np.ones_like(current)
            factor[present] = target[present] / current[present]
            share = share * factor[keys]
            share /= share.sum()
    return share


def _reach(rng: np.random.Generator, params: WorldParams, categories: int) -> np.ndarray:
    """Targeting, shape (partners, categories): a partner buys a segment (1) or barely (low).

    Each category is bought by the same number of partners, so every world has the same
    auction density per segment; which partners buy it is drawn from the seed.
    """
    n = len(catalog.PARTNER_NAMES)
    buyers = round((1.0 - params.reach_miss) * n)
    reach = np.full((n, categories), params.reach_low)
    for c in range(categories):
        reach[rng.permutation(n)[:buyers], c] = 1.0
    return reach


def _partners(rng: np.random.Generator, params: WorldParams) -> tuple[Partner, ...]:
    channels = (1, 1, 0, 1, 0, 1, 0, 2, 2, 3)  # mostly header bidding and open RTB
    fmt = _reach(rng, params, len(catalog.FORMATS))
    fmt[:, 0] = 1.0  # every partner buys banners
    tier = _reach(rng, params, 3)
    tier[:, :] = 1.0  # every partner buys every tier; tiers move prices, not reach
    inventory = _reach(rng, params, len(catalog.INVENTORY_TYPES))
    device = _reach(rng, params, len(catalog.DEVICES))

    def row(matrix: np.ndarray, i: int) -> tuple[float, ...]:
        return tuple(float(v) for v in matrix[i])

    out: list[Partner] = []
    for i, name in enumerate(catalog.PARTNER_NAMES):
        direct = channels[i] >= 2  # deals: rarer but richer bids
        participation = params.deal_participation if direct else params.open_participation
        out.append(
            Partner(
                name=name,
                channel=channels[i],
                offset=float(rng.normal(0.25 if direct else -0.05, 0.12)),
                sigma=float(rng.uniform(*params.partner_sigma)),
                tail_prob=float(rng.uniform(*params.tail_prob)),
                tail_shift=float(rng.uniform(*params.tail_shift)),
                participation=float(rng.uniform(*participation)),
                format_reach=row(fmt, i),
                tier_reach=row(tier, i),
                inventory_reach=row(inventory, i),
                device_reach=row(device, i),
                latency_median_ms=float(rng.uniform(60.0, 170.0)),
                latency_sigma=float(rng.uniform(0.25, 0.4)),
                error_rate=float(rng.uniform(0.002, 0.01)),
            )
        )
    return tuple(out)


def build_world(seed: int, *, publishers: int = 40, params: WorldParams = DEFAULT_PARAMS) -> World:
    """Build the deterministic world for ``seed`` with ``publishers`` editors."""
    if publishers < 1:
        raise ValueError("a world needs at least one publisher")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(WORLD_STREAM,)))
    value = default_value_model(rng, params)
    pubs = _publishers(rng, publishers, params.publisher_quality_sd)
    units = _ad_units(rng, pubs, value, params)
    partners = _partners(rng, params)
    return World(seed=seed, publishers=pubs, ad_units=units, partners=partners, value=value)
