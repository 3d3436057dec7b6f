"""Per-minute metric streams for each publisher, each demand partner and the whole exchange.

Fields follow the AdOps seed: RPM, fill rate, bid latency, error rate, partner timeouts and cache
hit rate, plus the counts they are made of. A block's metrics come out as one Arrow table (batch
mode writes it to the lake) or as plain dicts (live mode publishes them on ``metrics.adops``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from ssmas.exchange.engine import STATUS_BLOCKED, STATUS_OK, STATUS_REJECTED, Block
from ssmas.exchange.world import World

TOPIC = "metrics.adops"
COUNT_FIELDS = ("requests", "blocked", "rejected", "impressions", "bids", "partner_timeouts")
RATE_FIELDS = (
    "revenue_eur",
    "rpm",
    "fill_rate",
    "bid_latency_ms",
    "error_rate",
    "timeout_rate",
    "cache_hit_rate",
)
METRIC_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("s", tz="UTC")),
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        *[(name, pa.int64()) for name in COUNT_FIELDS],
        *[(name, pa.float64()) for name in RATE_FIELDS],
    ]
)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.asarray(np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0))


def _grouped(key: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(key, weights=weights, minlength=size).astype(np.float64)


def _publisher_columns(world: World, block: Block) -> dict[str, np.ndarray]:
    req, n_pub, k = block.requests, len(world.publishers), block.minutes
    key = req.minute.astype(np.int64) * n_pub + req.publisher
    size = k * n_pub
    ok = block.status == STATUS_OK
    requests = _grouped(key, size, (block.status != STATUS_BLOCKED).astype(np.float64))
    calls = _grouped(key, size, block.partner_calls.astype(np.float64))
    timeouts = _grouped(key, size, block.partner_timeouts.astype(np.float64))
    revenue = _grouped(key, size, block.outcome.clearing_cpm.astype(np.float64)) / 1000.0
    impressions = _grouped(key, size, block.outcome.filled.astype(np.float64))
    ok_count = _grouped(key, size, ok.astype(np.float64))
    return {
        "requests": requests,
        "blocked": _grouped(key, size, (block.status == STATUS_BLOCKED).astype(np.float64)),
        "rejected": _grouped(key, size, (block.status == STATUS_REJECTED).astype(np.float64)),
        "impressions": impressions,
        "bids": _grouped(key, size, block.top.received.astype(np.float64)),
        "partner_timeouts": timeouts,
        "revenue_eur": revenue,
        "rpm": _ratio(revenue * 1000.0, requests),
        "fill_rate": _ratio(impressions, requests),
        "bid_latency_ms": _ratio(
            _grouped(key, size, np.where(ok, block.latency_ms, 0.0)), ok_count
        ),
        "error_rate": _ratio(
            _grouped(key, size, (block.status == STATUS_REJECTED).astype(np.float64)), requests
        ),
        "timeout_rate": _ratio(timeouts, calls),
        "cache_hit_rate": _ratio(
            _grouped(key, size, (ok & block.cache_hit).astype(float)), ok_count
        ),
    }


def _partner_columns(world: World, block: Block) -> dict[str, np.ndarray]:
    n_part, k, p = len(world.partners), block.minutes, block.partners
    won = block.outcome.winner >= 0
    key = block.requests.minute[won].astype(np.int64) * n_part + block.outcome.winner[won]
    wins = _grouped(key, k * n_part).reshape(k, n_part)
    revenue = (
        _grouped(key, k * n_part, block.outcome.clearing_cpm[won].astype(np.float64)).reshape(
            k, n_part
        )
        / 1000.0
    )
    answered = p.calls - p.failures
    zeros = np.zeros_like(p.calls)
    columns = {
        "requests": p.calls,
        "blocked": zeros,
        "rejected": zeros,
        "impressions": wins,
        "bids": p.bids,
        "partner_timeouts": p.timeouts,
        "revenue_eur": revenue,
        "rpm": _ratio(revenue * 1000.0, p.calls),
        "fill_rate": _ratio(wins, p.calls),
        "bid_latency_ms": _ratio(p.latency_sum, answered),
        "error_rate": _ratio(p.failures, p.calls),
        "timeout_rate": _ratio(p.timeouts, p.calls),
        "cache_hit_rate": _ratio(p.cache_hits, p.calls),
    }
    return {name: values.reshape(-1) for name, values in columns.items()}


def _exchange_columns(pub: dict[str, np.ndarray], k: int, block: Block) -> dict[str, np.ndarray]:
    summed = {name: pub[name].reshape(k, -1).sum(axis=1) for name in (*COUNT_FIELDS, "revenue_eur")}
    m = block.requests.minute
    ok = block.status == STATUS_OK
    ok_count = _grouped(m, k, ok.astype(np.float64))
    calls = _grouped(m, k, block.partner_calls.astype(np.float64))
    requests = summed["requests"]
    return {
        **summed,
        "rpm": _ratio(summed["revenue_eur"] * 1000.0, requests),
        "fill_rate": _ratio(summed["impressions"], requests),
        "bid_latency_ms": _ratio(_grouped(m, k, np.where(ok, block.latency_ms, 0.0)), ok_count),
        "error_rate": _ratio(summed["rejected"], requests),
        "timeout_rate": _ratio(summed["partner_timeouts"], calls),
        "cache_hit_rate": _ratio(_grouped(m, k, (ok & block.cache_hit).astype(float)), ok_count),
    }


def block_metrics(world: World, block: Block) -> pa.Table:
    """One row per (minute, entity) of the block: publishers, partners, then ``exchange``."""
    k = block.minutes
    start_s = int(block.start.timestamp())
    pubs, parts = world.publisher_ids(), world.partner_names()
    pub_cols = _publisher_columns(world, block)
    sections = [
        ("publisher", pubs, pub_cols),
        ("partner", parts, _partner_columns(world, block)),
        ("exchange", ["exchange"], _exchange_columns(pub_cols, k, block)),
    ]
    ts, etype, eid = [], [], []
    merged: dict[str, list[np.ndarray]] = {name: [] for name in (*COUNT_FIELDS, *RATE_FIELDS)}
    for kind, names, cols in sections:
        minutes = np.repeat(np.arange(k, dtype=np.int64), len(names))
        ts.append(start_s + minutes * 60)
        etype.extend([kind] * (k * len(names)))
        eid.extend(names * k)
        for name in merged:
            merged[name].append(np.asarray(cols[name], dtype=np.float64).reshape(-1))
    arrays: list[pa.Array] = [
        pa.array(np.concatenate(ts), type=pa.timestamp("s", tz="UTC")),
        pa.array(etype),
        pa.array(eid),
    ]
    for name in COUNT_FIELDS:
        arrays.append(pa.array(np.rint(np.concatenate(merged[name])).astype(np.int64)))
    for name in RATE_FIELDS:
        arrays.append(pa.array(np.concatenate(merged[name])))
    return pa.Table.from_arrays(arrays, schema=METRIC_SCHEMA)


def metric_points(table: pa.Table) -> list[dict[str, Any]]:
    """Bus payloads: one JSON-ready dict per (minute, entity), timestamps as ISO-8601 UTC."""
    points = []
    for row in table.to_pylist():
        ts: datetime = row["ts"]
        row["ts"] = ts.astimezone(UTC).isoformat()
        for name in RATE_FIELDS:
            row[name] = round(float(row[name]), 6)
        points.append(row)
    return points


# ---- what an operator's stack sees besides the lake's metrics (live mode) ----------------
# The lake keeps ``METRIC_SCHEMA``; the live stream adds what an ad server's own monitoring
# publishes: the traffic-quality filter's share of invalid requests, the share of auctions lost
# to the floor, the serving pool's utilisation, and per-ad-unit rows for the ad units big enough
# to give a per-minute figure (a unit selling a few impressions a minute is noise, so smaller
# ones are only in their publisher's row: the cardinality limit every metrics stack has).
AD_UNIT_MIN_SHARE = 0.01  # ad units with at least 1% of the exchange's requests get a row
OPS_FIELDS = ("ivt_rate", "floor_reject_rate", "capacity_utilisation")
AD_UNIT_FIELDS = ("requests", "impressions", "bids", "rpm", "fill_rate", "floor_reject_rate")


def messages_per_minute(world: World) -> int:
    """How many ``metrics.adops`` messages the live exchange publishes each minute."""
    big_units = int(np.count_nonzero(world.unit_share >= AD_UNIT_MIN_SHARE))
    return len(world.publishers) + len(world.partners) + 1 + big_units


def _quality_counts(
    world: World, block: Block, key: np.ndarray, size: int
) -> dict[str, np.ndarray]:
    """Per ``key`` group: requests seen (blocked included), invalid ones, requests with a bid
    and those of them lost to the floor (bids arrived, none at or above it)."""
    from ssmas.exchange.catalog import INVALID_SOURCE, TRAFFIC_SOURCES

    invalid = block.requests.source == TRAFFIC_SOURCES.index(INVALID_SOURCE)
    has_bid = block.top.received > 0
    lost = has_bid & ~block.outcome.filled
    return {
        "seen": _grouped(key, size),
        "invalid": _grouped(key, size, invalid.astype(np.float64)),
        "with_bid": _grouped(key, size, has_bid.astype(np.float64)),
        "lost": _grouped(key, size, lost.astype(np.float64)),
    }


def operator_points(world: World, block: Block, capacity_per_min: float) -> list[dict[str, Any]]:
    """The live stream's points for one minute's block: :func:`block_metrics` rows with
    ``ivt_rate`` and ``floor_reject_rate`` (publishers, exchange) and ``capacity_utilisation``
    (exchange), then one ``ad_unit`` row per ad unit of at least ``AD_UNIT_MIN_SHARE``."""
    if block.minutes != 1:
        raise ValueError("operator points are per minute: live blocks have one minute")
    points = metric_points(block_metrics(world, block))
    req = block.requests
    n_pub = len(world.publishers)
    pub = _quality_counts(world, block, req.publisher.astype(np.int64), n_pub)
    total = {name: np.array([values.sum()]) for name, values in pub.items()}
    admitted = float(np.count_nonzero(block.status != STATUS_BLOCKED))
    utilisation = admitted / capacity_per_min if capacity_per_min > 0 else 0.0
    pub_index = {p: i for i, p in enumerate(world.publisher_ids())}
    for point in points:
        etype = point["entity_type"]
        if etype == "publisher":
            i = pub_index[point["entity_id"]]
            counts = {name: values[i : i + 1] for name, values in pub.items()}
        elif etype == "exchange":
            counts = total
            point["capacity_utilisation"] = round(utilisation, 6)
        else:
            continue
        point["ivt_rate"] = round(float(_ratio(counts["invalid"], counts["seen"])[0]), 6)
        point["floor_reject_rate"] = round(float(_ratio(counts["lost"], counts["with_bid"])[0]), 6)
    units = np.flatnonzero(world.unit_share >= AD_UNIT_MIN_SHARE)
    if len(units) == 0:
        return points
    n_units = len(world.ad_units)
    key = req.unit.astype(np.int64)
    unit_counts = _quality_counts(world, block, key, n_units)
    forwarded = (block.status != STATUS_BLOCKED).astype(np.float64)
    requests = _grouped(key, n_units, forwarded)
    impressions = _grouped(key, n_units, block.outcome.filled.astype(np.float64))
    revenue = _grouped(key, n_units, block.outcome.clearing_cpm.astype(np.float64)) / 1000.0
    bids = _grouped(key, n_units, block.top.received.astype(np.float64))
    rpm = _ratio(revenue * 1000.0, requests)
    fill = _ratio(impressions, requests)
    reject = _ratio(unit_counts["lost"], unit_counts["with_bid"])
    ts = block.start.astimezone(UTC).isoformat()
    for u in units.tolist():
        points.append(
            {
                "ts": ts,
                "entity_type": "ad_unit",
                "entity_id": world.ad_units[u].ad_unit_id,
                "requests": int(requests[u]),
                "impressions": int(impressions[u]),
                "bids": int(bids[u]),
                "revenue_eur": round(float(revenue[u]), 6),
                "rpm": round(float(rpm[u]), 6),
                "fill_rate": round(float(fill[u]), 6),
                "floor_reject_rate": round(float(reject[u]), 6),
            }
        )
    return points
