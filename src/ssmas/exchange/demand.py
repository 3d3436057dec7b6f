"""Demand partners answering bid requests: who is called, fails, times out or bids, and how much.

Each forwarded request gets one uniform draw per partner that decides in turn: forwarded (traffic
weight), failed (error rate), willing to bid (participation by format, tier, size and cache), and
high-intent (the heavy lognormal tail). Latency is drawn separately; past the auction timeout the
bid is lost. Bids are ``exp(value + partner offset + partner noise)`` EUR CPM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssmas.exchange.traffic import INVALID, Requests
from ssmas.exchange.world import World

CACHE_MISS_VALUE = -0.3  # no user match: buyers value the impression less
CACHE_MISS_REACH = 0.85
BOT_REACH = 0.12  # most buyers filter known bot traffic
BOT_VALUE = -1.2
FAST_FAIL = 0.2  # an ordinary error answers faster than a bid


@dataclass(frozen=True)
class PartnerTable:
    """Partner parameters as arrays, shape (partners,) or (partners, categories)."""

    offset: np.ndarray
    sigma: np.ndarray
    tail_prob: np.ndarray
    tail_shift: np.ndarray
    participation: np.ndarray
    format_reach: np.ndarray
    tier_reach: np.ndarray
    inventory_reach: np.ndarray
    device_reach: np.ndarray
    latency_median: np.ndarray
    latency_sigma: np.ndarray

    @classmethod
    def of(cls, world: World) -> PartnerTable:
        ps = world.partners

        def arr(values: list[float] | list[tuple[float, ...]]) -> np.ndarray:
            return np.asarray(values, dtype=np.float32)

        return cls(
            offset=arr([p.offset for p in ps]),
            sigma=arr([p.sigma for p in ps]),
            tail_prob=arr([p.tail_prob for p in ps]),
            tail_shift=arr([p.tail_shift for p in ps]),
            participation=arr([p.participation for p in ps]),
            format_reach=arr([p.format_reach for p in ps]),
            tier_reach=arr([p.tier_reach for p in ps]),
            inventory_reach=arr([p.inventory_reach for p in ps]),
            device_reach=arr([p.device_reach for p in ps]),
            latency_median=arr([p.latency_median_ms for p in ps]),
            latency_sigma=arr([p.latency_sigma for p in ps]),
        )


@dataclass(frozen=True)
class BidResponses:
    """Per (partner, request), partner-major: called, failed, timed out, latency, bid."""

    called: np.ndarray  # bool (P, n)
    failed: np.ndarray  # bool (P, n)
    timed_out: np.ndarray  # bool (P, n)
    latency_ms: np.ndarray  # float32 (P, n), capped at the timeout
    bids: np.ndarray  # float32 (P, n), 0 = no bid


def _col(values: np.ndarray) -> np.ndarray:
    return values.reshape(-1, 1)


def draw_bids(
    world: World,
    table: PartnerTable,
    req: Requests,
    *,
    log_value: np.ndarray,
    forwarded: np.ndarray,
    cache_hit: np.ndarray,
    weight: np.ndarray,
    error: np.ndarray,
    latency_mult: np.ndarray,
    size_ok: np.ndarray,
    timeout_ms: np.ndarray,
    rng: np.random.Generator,
) -> BidResponses:
    """Partner responses; ``weight``/``error``/``latency_mult`` are (P, n), ``timeout_ms`` (n,).

    Arrays are partner-major so every per-partner row is contiguous and reductions over
    partners are element-wise.
    """
    n, n_partners = req.unit.shape[0], len(world.partners)
    u = rng.random((n_partners, n), dtype=np.float32)
    called = u < weight
    called &= forwarded
    u /= np.maximum(weight, np.float32(1e-9))  # uniform again among called partners
    failed = called & (u < error)
    u -= error
    u /= np.maximum(1.0 - error, np.float32(1e-9))
    row_reach = np.where(cache_hit, np.float32(1.0), np.float32(CACHE_MISS_REACH))
    row_reach *= size_ok
    row_reach[req.source == INVALID] *= np.float32(BOT_REACH)
    reach = table.format_reach[:, req.fmt]
    reach *= table.tier_reach[:, req.tier - 1]
    reach *= table.inventory_reach[:, req.inventory]
    reach *= table.device_reach[:, req.device]
    reach *= _col(table.participation)
    reach *= row_reach.astype(np.float32)
    willing = u < reach
    reach *= _col(table.tail_prob)
    tail = u < reach
    z = rng.standard_normal((n_partners, n), dtype=np.float32)
    z *= _col(table.latency_sigma)
    latency = np.exp(z, out=z)
    latency *= latency_mult
    latency *= _col(table.latency_median)
    answered = called & ~failed
    timed_out = answered & (latency > timeout_ms)
    np.minimum(latency, timeout_ms, out=latency)
    latency[called & failed & (latency < timeout_ms)] *= np.float32(FAST_FAIL)
    bidding = answered & ~timed_out & willing
    log_bid = rng.standard_normal((n_partners, n), dtype=np.float32)
    log_bid *= _col(table.sigma)
    log_bid += log_value
    log_bid += _col(table.offset)
    log_bid += tail * _col(table.tail_shift)
    bids = np.exp(log_bid, out=log_bid)
    bids *= bidding  # no bid = 0
    return BidResponses(called, failed, timed_out, latency, bids)


def impression_value(
    world: World,
    req: Requests,
    *,
    cache_hit: np.ndarray,
    publisher_shift: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Common log value of each request: features, residual, cache match, bots and decay."""
    value = world.value.log_value(
        fmt=req.fmt,
        inventory=req.inventory,
        tier=req.tier,
        device=req.device,
        hour=req.hour,
        dow=req.dow,
        publisher_quality=world.publisher_quality[req.publisher],
        engagement=req.engagement,
        ctr=req.ctr,
        performance=req.performance,
    )
    value += np.float32(world.value.residual_sigma) * rng.standard_normal(
        value.shape[0], dtype=np.float32
    )
    value += np.where(cache_hit, np.float32(0.0), np.float32(CACHE_MISS_VALUE))
    value += np.where(req.source == INVALID, np.float32(BOT_VALUE), np.float32(0.0))
    value += publisher_shift
    return value.astype(np.float32)
