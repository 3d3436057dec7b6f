"""Impression records as Arrow tables: the lake's row schema and the block → table conversion.

Each row is one impression opportunity with the /predict request fields (impression_id,
hour_of_day, day_of_week, country_tier, device_category, format, inventory_type, bidder,
demand_channel, domain, user_engagement_score, device_performance_score, historical_ctr_avg)
plus the auction: floor, bids received, top two bids, winner, clearing CPM, filled flag, latency.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ssmas.exchange import catalog
from ssmas.exchange.engine import STATUSES, Block
from ssmas.exchange.world import World


def _dict_type(index: pa.DataType) -> pa.DataType:
    return pa.dictionary(index, pa.string())


IMPRESSION_SCHEMA = pa.schema(
    [
        ("impression_id", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("hour_of_day", pa.int8()),
        ("day_of_week", pa.int8()),
        ("publisher_id", _dict_type(pa.int16())),
        ("domain", _dict_type(pa.int16())),
        ("ad_unit_id", _dict_type(pa.int16())),
        ("format", _dict_type(pa.int8())),
        ("ad_size", _dict_type(pa.int8())),
        ("inventory_type", _dict_type(pa.int8())),
        ("auction_type", _dict_type(pa.int8())),
        ("country", _dict_type(pa.int8())),
        ("country_tier", pa.int8()),
        ("device_category", _dict_type(pa.int8())),
        ("traffic_source", _dict_type(pa.int8())),
        ("user_engagement_score", pa.float32()),
        ("device_performance_score", pa.float32()),
        ("historical_ctr_avg", pa.float32()),
        ("status", _dict_type(pa.int8())),
        ("cache_hit", pa.bool_()),
        ("floor_cpm", pa.float32()),
        ("bids_received", pa.int8()),
        ("top_bid_cpm", pa.float32()),
        ("second_bid_cpm", pa.float32()),
        ("top_bidder", _dict_type(pa.int8())),
        ("bidder", _dict_type(pa.int8())),
        ("demand_channel", _dict_type(pa.int8())),
        ("clearing_cpm", pa.float32()),
        ("filled", pa.bool_()),
        ("latency_ms", pa.float32()),
        ("partner_timeouts", pa.int8()),
    ]
)


class RecordEncoder:
    """Turns simulated blocks into Arrow tables with fixed dictionaries (stable across files)."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._publishers = pa.array(world.publisher_ids())
        self._domains = pa.array([p.domain for p in world.publishers])
        self._units = pa.array([u.ad_unit_id for u in world.ad_units])
        self._unit_size = np.array([catalog.SIZES.index(u.size) for u in world.ad_units], np.int8)
        self._broken_size = np.int8(catalog.SIZES.index(catalog.MISCONFIGURED_SIZE))
        self._partners = pa.array(world.partner_names())
        self._partner_channel = np.array([p.channel for p in world.partners], dtype=np.int8)
        self._dicts = {
            "format": pa.array(catalog.FORMATS),
            "ad_size": pa.array(catalog.SIZES),
            "inventory_type": pa.array(catalog.INVENTORY_TYPES),
            "auction_type": pa.array(catalog.AUCTION_TYPES),
            "country": pa.array(catalog.COUNTRIES),
            "device_category": pa.array(catalog.DEVICES),
            "traffic_source": pa.array(catalog.TRAFFIC_SOURCES),
            "status": pa.array(STATUSES),
            "demand_channel": pa.array(catalog.DEMAND_CHANNELS),
        }

    def _codes(self, name: str, index: np.ndarray, dtype: type[np.integer]) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(index.astype(dtype)), self._dicts[name])

    @staticmethod
    def _maybe(index: np.ndarray, dictionary: pa.Array) -> pa.Array:
        codes = np.maximum(index, 0).astype(np.int8)
        return pa.DictionaryArray.from_arrays(codes, dictionary, mask=index < 0)

    def encode(self, block: Block, id_prefix: str) -> pa.Table:
        """Arrow table of a block; ids are ``<id_prefix><row number>`` and unique per prefix."""
        req, top, out = block.requests, block.top, block.outcome
        n = len(req)
        ids = pc.binary_join_element_wise(
            pa.scalar(id_prefix), pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string()), ""
        )
        winner = out.winner.astype(np.int16)
        size = np.where(block.size_ok, self._unit_size[req.unit], self._broken_size).astype(np.int8)
        channel = np.where(winner >= 0, self._partner_channel[np.maximum(winner, 0)], -1)
        columns: list[pa.Array] = [
            ids,
            pa.array(req.ts_ms, type=pa.timestamp("ms", tz="UTC")),
            pa.array(req.hour),
            pa.array(req.dow),
            pa.DictionaryArray.from_arrays(
                pa.array(req.publisher.astype(np.int16)), self._publishers
            ),
            pa.DictionaryArray.from_arrays(pa.array(req.publisher.astype(np.int16)), self._domains),
            pa.DictionaryArray.from_arrays(pa.array(req.unit.astype(np.int16)), self._units),
            self._codes("format", req.fmt, np.int8),
            pa.DictionaryArray.from_arrays(pa.array(size), self._dicts["ad_size"]),
            self._codes("inventory_type", req.inventory, np.int8),
            self._codes("auction_type", req.auction, np.int8),
            self._codes("country", req.country, np.int8),
            pa.array(req.tier),
            self._codes("device_category", req.device, np.int8),
            self._codes("traffic_source", req.source, np.int8),
            pa.array(req.engagement),
            pa.array(req.performance),
            pa.array(req.ctr),
            self._codes("status", block.status, np.int8),
            pa.array(block.cache_hit),
            pa.array(block.floors),
            pa.array(top.received),
            pa.array(top.top),
            pa.array(top.second),
            self._maybe(top.top_bidder, self._partners),
            self._maybe(winner, self._partners),
            self._maybe(channel, self._dicts["demand_channel"]),
            pa.array(out.clearing_cpm),
            pa.array(out.filled),
            pa.array(block.latency_ms),
            pa.array(block.partner_timeouts),
        ]
        return pa.Table.from_arrays(columns, schema=IMPRESSION_SCHEMA)
