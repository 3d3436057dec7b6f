"""Ad requests: who asks for an ad, where, on what device, and how engaged the user is.

``draw_requests`` turns per-minute request counts into columnar request arrays (one row per
impression opportunity), sorted by timestamp. Invalid traffic arrives as extra rows from the bot
source, concentrated on the publishers a fault targets.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import numpy as np

from ssmas.exchange import catalog
from ssmas.exchange.world import World

_SOURCE_P = np.array([0.36, 0.3, 0.2, 0.14])  # direct, search, social, referral
_FORMAT_CTR_SHIFT = np.array([0.0, 0.7, 0.35, 1.0], dtype=np.float32)
_PERF_MEAN = np.array([0.5, 0.62, 0.8], dtype=np.float32)  # mobile, tablet, desktop
_PERF_SD = np.array([0.16, 0.12, 0.1], dtype=np.float32)
INVALID = catalog.TRAFFIC_SOURCES.index(catalog.INVALID_SOURCE)


@dataclass
class Requests:
    """Columnar ad requests; every array has one entry per request."""

    ts_ms: np.ndarray  # int64 epoch milliseconds, ascending
    minute: np.ndarray  # int32 minute offset inside the block
    unit: np.ndarray  # int32 ad unit index
    publisher: np.ndarray  # int32
    country: np.ndarray  # int8 index into catalog.COUNTRIES
    tier: np.ndarray  # int8 1..3
    device: np.ndarray  # int8
    fmt: np.ndarray  # int8
    inventory: np.ndarray  # int8
    auction: np.ndarray  # int8
    hour: np.ndarray  # int8 0..23 (UTC)
    dow: np.ndarray  # int8 1..7, Monday = 1
    engagement: np.ndarray  # float32 in [0, 1]
    ctr: np.ndarray  # float32 in [0, 1]
    performance: np.ndarray  # float32 in [0, 1]
    source: np.ndarray  # int8 index into catalog.TRAFFIC_SOURCES

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    def take(self, index: np.ndarray) -> Requests:
        return Requests(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: index of the first cdf entry above ``u``."""
    return np.asarray(np.minimum(np.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1))


def _pick_rows(cdf_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise inverse-CDF sampling: ``cdf_rows`` has one cumulative distribution per row."""
    idx = (u[:, None] >= cdf_rows).sum(axis=1)
    return np.asarray(np.minimum(idx, cdf_rows.shape[1] - 1))


def _units(
    world: World, counts: np.ndarray, ivt: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ad unit, minute offset and bot flag of every request of the block."""
    unit_cdf = np.cumsum(world.unit_share)
    minute = np.repeat(np.arange(counts.shape[0], dtype=np.int32), counts)
    unit = _pick(unit_cdf, rng.random(minute.shape[0])).astype(np.int32)
    bot = np.zeros(minute.shape[0], dtype=bool)
    if ivt.any():
        extra_minutes, extra_units = [], []
        for m, p in zip(*np.nonzero(ivt), strict=True):
            members = np.flatnonzero(world.unit_publisher == p)
            share = world.unit_share[members]
            picked = members[_pick(np.cumsum(share / share.sum()), rng.random(ivt[m, p]))]
            extra_units.append(picked.astype(np.int32))
            extra_minutes.append(np.full(picked.shape[0], m, dtype=np.int32))
        minute = np.concatenate([minute, *extra_minutes])
        unit = np.concatenate([unit, *extra_units])
        bot = np.concatenate([bot, np.ones(minute.shape[0] - bot.shape[0], dtype=bool)])
        order = np.argsort(minute, kind="stable")
        minute, unit, bot = minute[order], unit[order], bot[order]
    return unit, minute, bot


def draw_requests(
    world: World,
    block_start: datetime,
    counts: np.ndarray,
    ivt_counts: np.ndarray,
    rng: np.random.Generator,
) -> Requests:
    """Requests of a block of minutes: ``counts[m]`` normal and ``ivt_counts[m, publisher]`` bot."""
    unit, minute, bot = _units(world, counts, ivt_counts, rng)
    n = int(unit.shape[0])
    publisher = world.unit_publisher[unit]
    fmt = world.unit_format[unit]
    start_ms = int(block_start.timestamp() * 1000)
    ts_ms = minute.astype(np.int64) * 60_000 + rng.integers(0, 60_000, n)
    ts_ms.sort()  # rows are exchangeable, so sorted offsets can be assigned in order
    ts_ms += start_ms
    country = _pick_rows(world.country_cdf[publisher], rng.random(n)).astype(np.int8)
    device = _pick_rows(world.device_cdf[publisher], rng.random(n)).astype(np.int8)
    engagement = rng.beta(2.2, 2.8, n).astype(np.float32)
    engagement += world.publisher_engagement_shift[publisher]
    source = _pick(np.cumsum(_SOURCE_P), rng.random(n)).astype(np.int8)
    if bot.any():
        device[bot] = catalog.DEVICES.index("desktop")
        engagement[bot] = rng.uniform(0.0, 0.06, int(bot.sum())).astype(np.float32)
        source[bot] = INVALID
    np.clip(engagement, 0.0, 1.0, out=engagement)
    log_ctr = np.float32(np.log(0.0025)) + _FORMAT_CTR_SHIFT[fmt]
    log_ctr += np.float32(2.2) * (engagement - np.float32(0.45))
    log_ctr += rng.standard_normal(n, dtype=np.float32) * np.float32(0.45)
    ctr = np.minimum(np.exp(log_ctr), np.float32(1.0))
    performance = _PERF_MEAN[device] + _PERF_SD[device] * rng.standard_normal(n, dtype=np.float32)
    np.clip(performance, 0.02, 1.0, out=performance)
    seconds = ts_ms // 1000
    hour = ((seconds // 3600) % 24).astype(np.int8)
    dow = (((seconds // 86_400) + 3) % 7 + 1).astype(np.int8)  # 1970-01-01 was a Thursday
    tiers = np.asarray(catalog.COUNTRY_TIERS, dtype=np.int8)
    return Requests(
        ts_ms=ts_ms,
        minute=minute,
        unit=unit,
        publisher=publisher,
        country=country,
        tier=tiers[country],
        device=device,
        fmt=fmt,
        inventory=world.unit_inventory[unit],
        auction=world.unit_auction[unit],
        hour=hour,
        dow=dow,
        engagement=engagement,
        ctr=ctr.astype(np.float32),
        performance=performance,
        source=source,
    )
