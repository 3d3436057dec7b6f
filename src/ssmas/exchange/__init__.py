"""The ad exchange world that pricing and adops run against.

Public services:

* world and auctions: ``build_world``, ``run_auctions`` (replay logged bids under new floors),
  ``Bidders`` / ``BidderConfig`` (partners that shade, learn and drop out when floors move);
* batch: ``SimulationConfig``, ``simulate_to_lake`` (Parquet lake), ``simulate_frame`` (in
  memory), ``simulate_values`` (blocks with every partner's value, for responsive replays),
  ``connect_lake`` (DuckDB views), ``aggregate_day``; the lake's layout for readers:
  ``LAKE_IMPRESSIONS`` (the raw impressions dataset under the root), ``lake_day_dir`` (a
  dataset's partition of one day), ``lake_days`` (the days with raw impressions);
* live: ``run_live`` (metrics on ``metrics.adops``), ``LiveExchange`` (step minute by minute);
* live floors, for a product that prices the live auctions: ``floor_slot`` (the process's
  ``FloorSlot``) takes a ``LiveFloorProvider``, which sees each minute's ``Requests`` (columns of
  codes into ``DEVICES``, ``FORMATS``, ``INVENTORY_TYPES``) and then the cleared ``Block``
  (``STATUS_OK`` marks the requests that went to auction);
* traffic volume: ``expected_minute_volume`` (hour-of-day and weekday shapes, growth);
* faults and knobs: ``make_fault``, ``inject_fault``, ``change_control``, ``open_stores``,
  ``MemoryControlPlane``, ``ControlState``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssmas.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ssmas.exchange.auction import FIRST_PRICE, AuctionOutcome, run_auctions
    from ssmas.exchange.bidders import BidderConfig, Bidders
    from ssmas.exchange.catalog import DEVICES, FORMATS, INVENTORY_TYPES, country_tier
    from ssmas.exchange.control_plane import ControlPlane, ControlVersion, MemoryControlPlane
    from ssmas.exchange.engine import STATUS_OK, Block
    from ssmas.exchange.faults import FAULT_KINDS, Fault, FaultError, make_fault, parse_scenario
    from ssmas.exchange.knobs import ControlPlaneError, ControlState
    from ssmas.exchange.lake import RAW as LAKE_IMPRESSIONS
    from ssmas.exchange.lake import aggregate_day
    from ssmas.exchange.lake import connect as connect_lake
    from ssmas.exchange.lake import day_dir as lake_day_dir
    from ssmas.exchange.lake import hour_dir as lake_hour_dir
    from ssmas.exchange.lake import raw_days as lake_days
    from ssmas.exchange.lake import writer_options as lake_writer_options
    from ssmas.exchange.live import FloorSlot, LiveExchange, LiveFloorProvider, floor_slot, run_live
    from ssmas.exchange.metrics import TOPIC as METRICS_TOPIC
    from ssmas.exchange.params import WorldParams
    from ssmas.exchange.seasonality import expected_minute_volume
    from ssmas.exchange.services import change_control, inject_fault, open_stores, parse_volume
    from ssmas.exchange.simulate import (
        SimulationConfig,
        simulate_frame,
        simulate_to_lake,
        simulate_values,
    )
    from ssmas.exchange.traffic import Requests
    from ssmas.exchange.world import World, build_world

__all__ = [
    "DEVICES",
    "FAULT_KINDS",
    "FIRST_PRICE",
    "FORMATS",
    "INVENTORY_TYPES",
    "LAKE_IMPRESSIONS",
    "METRICS_TOPIC",
    "STATUS_OK",
    "AuctionOutcome",
    "BidderConfig",
    "Bidders",
    "Block",
    "ControlPlane",
    "ControlPlaneError",
    "ControlState",
    "ControlVersion",
    "Fault",
    "FaultError",
    "FloorSlot",
    "LiveExchange",
    "LiveFloorProvider",
    "MemoryControlPlane",
    "Requests",
    "SimulationConfig",
    "World",
    "WorldParams",
    "aggregate_day",
    "build_world",
    "change_control",
    "connect_lake",
    "country_tier",
    "expected_minute_volume",
    "floor_slot",
    "inject_fault",
    "lake_day_dir",
    "lake_days",
    "lake_hour_dir",
    "lake_writer_options",
    "make_fault",
    "open_stores",
    "parse_scenario",
    "parse_volume",
    "run_auctions",
    "run_live",
    "simulate_frame",
    "simulate_to_lake",
    "simulate_values",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AuctionOutcome": "ssmas.exchange.auction",
        "FIRST_PRICE": "ssmas.exchange.auction",
        "run_auctions": "ssmas.exchange.auction",
        "BidderConfig": "ssmas.exchange.bidders",
        "Bidders": "ssmas.exchange.bidders",
        "DEVICES": "ssmas.exchange.catalog",
        "FORMATS": "ssmas.exchange.catalog",
        "INVENTORY_TYPES": "ssmas.exchange.catalog",
        "ControlPlane": "ssmas.exchange.control_plane",
        "ControlVersion": "ssmas.exchange.control_plane",
        "MemoryControlPlane": "ssmas.exchange.control_plane",
        "STATUS_OK": "ssmas.exchange.engine",
        "Block": "ssmas.exchange.engine",
        "FAULT_KINDS": "ssmas.exchange.faults",
        "Fault": "ssmas.exchange.faults",
        "FaultError": "ssmas.exchange.faults",
        "make_fault": "ssmas.exchange.faults",
        "parse_scenario": "ssmas.exchange.faults",
        "ControlPlaneError": "ssmas.exchange.knobs",
        "ControlState": "ssmas.exchange.knobs",
        "LAKE_IMPRESSIONS": "ssmas.exchange.lake:RAW",
        "aggregate_day": "ssmas.exchange.lake",
        "connect_lake": "ssmas.exchange.lake:connect",
        "lake_day_dir": "ssmas.exchange.lake:day_dir",
        "lake_hour_dir": "ssmas.exchange.lake:hour_dir",
        "lake_writer_options": "ssmas.exchange.lake:writer_options",
        "country_tier": "ssmas.exchange.catalog",
        "lake_days": "ssmas.exchange.lake:raw_days",
        "FloorSlot": "ssmas.exchange.live",
        "LiveExchange": "ssmas.exchange.live",
        "LiveFloorProvider": "ssmas.exchange.live",
        "floor_slot": "ssmas.exchange.live",
        "run_live": "ssmas.exchange.live",
        "METRICS_TOPIC": "ssmas.exchange.metrics:TOPIC",
        "WorldParams": "ssmas.exchange.params",
        "expected_minute_volume": "ssmas.exchange.seasonality",
        "change_control": "ssmas.exchange.services",
        "inject_fault": "ssmas.exchange.services",
        "open_stores": "ssmas.exchange.services",
        "parse_volume": "ssmas.exchange.services",
        "SimulationConfig": "ssmas.exchange.simulate",
        "simulate_frame": "ssmas.exchange.simulate",
        "simulate_to_lake": "ssmas.exchange.simulate",
        "simulate_values": "ssmas.exchange.simulate",
        "Requests": "ssmas.exchange.traffic",
        "World": "ssmas.exchange.world",
        "build_world": "ssmas.exchange.world",
    },
)
