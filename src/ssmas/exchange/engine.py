"""One block of simulated minutes: requests → admission → partner calls → auctions → outcomes.

Batch mode runs blocks of ten minutes; live mode runs blocks of one. The same code serves both,
so the metrics a live run publishes are the ones a batch run writes to the lake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ssmas.exchange.auction import AuctionOutcome, TopBids, clear, top_two
from ssmas.exchange.conditions import Conditions
from ssmas.exchange.demand import PartnerTable, draw_bids, impression_value
from ssmas.exchange.traffic import Requests, draw_requests
from ssmas.exchange.world import World

STATUS_OK, STATUS_BLOCKED, STATUS_REJECTED = 0, 1, 2
STATUSES: tuple[str, ...] = ("ok", "blocked", "rejected")
OVERHEAD_HIT_MS = 4.0
OVERHEAD_MISS_MS = 22.0

FloorFunction = Callable[[Requests], np.ndarray]


@dataclass(frozen=True)
class PartnerMinute:
    """Per-minute partner counters, each of shape (minutes, partners)."""

    calls: np.ndarray
    failures: np.ndarray
    timeouts: np.ndarray
    bids: np.ndarray
    latency_sum: np.ndarray  # over answered calls (timeouts count at the timeout)
    cache_hits: np.ndarray  # called requests that had a cache hit


@dataclass(frozen=True)
class Block:
    """Everything a block produced: request rows, auction results and partner counters."""

    start: datetime
    minutes: int
    requests: Requests
    status: np.ndarray  # int8, STATUS_*
    cache_hit: np.ndarray  # bool
    floors: np.ndarray  # float32 EUR CPM
    size_ok: np.ndarray  # bool: False while the ad unit is declared in a size no buyer takes
    top: TopBids
    outcome: AuctionOutcome
    latency_ms: np.ndarray  # float32 per request
    partner_timeouts: np.ndarray  # int8 per request
    partner_calls: np.ndarray  # int8 per request
    partners: PartnerMinute
    values: np.ndarray  # float32 (partners, n): each partner's bid as drawn (its value), 0 = none


def _stack(conditions: Sequence[Conditions], name: str) -> np.ndarray:
    return np.stack([np.asarray(getattr(c, name)) for c in conditions])


def _by_minute(values: np.ndarray, minute: np.ndarray, minutes: int) -> np.ndarray:
    """Sum ``values`` (P, n) per minute into (minutes, P); columns are sorted by minute."""
    out = np.zeros((minutes, values.shape[0]), dtype=np.float64)
    bounds = np.searchsorted(minute, np.arange(minutes + 1))
    for m in range(minutes):
        lo, hi = bounds[m], bounds[m + 1]
        if hi > lo:
            chunk = values[:, lo:hi]
            out[m] = np.count_nonzero(chunk, axis=1) if chunk.dtype == bool else chunk.sum(axis=1)
    return out


def simulate_block(
    world: World,
    table: PartnerTable,
    start: datetime,
    conditions: Sequence[Conditions],
    expected: np.ndarray,
    rng: np.random.Generator,
    floor_fn: FloorFunction | None = None,
) -> Block:
    """Simulate ``len(conditions)`` minutes from ``start`` with ``expected`` requests per minute."""
    k = len(conditions)
    traffic = np.array([c.traffic_mult for c in conditions])
    counts = rng.poisson(np.asarray(expected) * traffic)
    pub_share = np.bincount(world.unit_publisher, weights=world.unit_share)
    ivt_rate = _stack(conditions, "ivt_rate")
    ivt = rng.poisson((np.asarray(expected) * traffic)[:, None] * pub_share * ivt_rate)
    req = draw_requests(world, start, counts, ivt, rng)
    m = req.minute
    n = len(req)

    blocked = _stack(conditions, "blocked_source")[m, req.source]
    admitted = np.bincount(m[~blocked], minlength=k)
    capacity = np.array([c.capacity_per_min for c in conditions])
    load = admitted / np.maximum(capacity, 1e-9)
    reject_p = np.where(load > 1.0, 1.0 - 1.0 / np.maximum(load, 1e-9), 0.0)
    rejected = ~blocked & (rng.random(n) < reject_p[m])
    status = np.where(blocked, STATUS_BLOCKED, np.where(rejected, STATUS_REJECTED, STATUS_OK))
    forwarded = status == STATUS_OK
    cache_hit = (
        rng.random(n, dtype=np.float32)
        < np.array([c.cache_hit_rate for c in conditions], dtype=np.float32)[m]
    )

    value = impression_value(
        world,
        req,
        cache_hit=cache_hit,
        publisher_shift=_stack(conditions, "publisher_value_shift")[m, req.publisher],
        rng=rng,
    )
    timeout = np.array([c.timeout_ms for c in conditions], dtype=np.float32)[m]
    size_ok = _stack(conditions, "unit_size_ok")[m, req.unit]
    resp = draw_bids(
        world,
        table,
        req,
        log_value=value,
        forwarded=forwarded,
        cache_hit=cache_hit,
        weight=_stack(conditions, "partner_weight").T[:, m],
        error=_stack(conditions, "partner_error").T[:, m],
        latency_mult=_stack(conditions, "partner_latency_mult").T[:, m],
        size_ok=size_ok,
        timeout_ms=timeout,
        rng=rng,
    )
    top = top_two(resp.bids)
    floors = (
        np.asarray(floor_fn(req), dtype=np.float32)
        if floor_fn is not None
        else _stack(conditions, "floors")[m, req.unit].astype(np.float32)
    )
    outcome = clear(top, floors, req.auction)

    rho = np.minimum(load, 0.97)[m]
    overhead = np.where(cache_hit, OVERHEAD_HIT_MS, OVERHEAD_MISS_MS) * (
        1.0 + 0.5 * rho / (1 - rho)
    )
    answered = resp.called & ~resp.failed
    # The exchange waits for every call it made, failed ones included (up to the timeout).
    wait = np.where(resp.called, resp.latency_ms, np.float32(0.0)).max(axis=0, initial=0.0)
    latency = np.where(forwarded, overhead + wait, 1.0).astype(np.float32)

    partners = PartnerMinute(
        calls=_by_minute(resp.called, m, k),
        failures=_by_minute(resp.failed, m, k),
        timeouts=_by_minute(resp.timed_out, m, k),
        bids=_by_minute(resp.bids > 0, m, k),
        latency_sum=_by_minute(np.where(answered, resp.latency_ms, 0.0), m, k),
        cache_hits=_by_minute(resp.called & cache_hit, m, k),
    )
    return Block(
        start=start,
        minutes=k,
        requests=req,
        status=status.astype(np.int8),
        cache_hit=cache_hit,
        floors=floors,
        size_ok=size_ok,
        top=top,
        outcome=outcome,
        latency_ms=latency,
        partner_timeouts=resp.timed_out.sum(axis=0, dtype=np.int8),
        partner_calls=resp.called.sum(axis=0, dtype=np.int8),
        partners=partners,
        values=resp.bids,
    )
