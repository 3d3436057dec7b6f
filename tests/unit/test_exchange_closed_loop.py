"""Closed loop: a fault hurts a metric, a control-plane change restores it the next minutes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from ssmas.exchange import catalog
from ssmas.exchange.control_plane import MemoryControlPlane
from ssmas.exchange.engine import Block
from ssmas.exchange.faults import Fault, entities_of, make_fault
from ssmas.exchange.live import LiveExchange
from ssmas.exchange.world import World, build_world

WORLD = build_world(42)
T0 = datetime(2024, 10, 22, 10, tzinfo=UTC)
BASELINE, FAULTY, REMEDIED = range(0, 5), range(7, 15), range(17, 25)
Probe = Callable[[Block, list[dict[str, Any]]], float]


def metric(entity_type: str, entity: str, name: str) -> Probe:
    def probe(_block: Block, points: list[dict[str, Any]]) -> float:
        (point,) = [
            p for p in points if p["entity_type"] == entity_type and p["entity_id"] == entity
        ]
        return float(point[name])

    return probe


def unit_fill(world: World, unit_id: str) -> Probe:
    index = world.ad_unit_index()[unit_id]

    def probe(block: Block, _points: list[dict[str, Any]]) -> float:
        mine = block.requests.unit == index
        return float(block.outcome.filled[mine].mean()) if mine.any() else float("nan")

    return probe


@dataclass(frozen=True)
class Case:
    kind: str
    entity: str
    probe: Probe
    remedy: dict[str, Any]
    worse: Callable[[float, float], bool]  # (faulty, baseline) -> fault visible
    restored: Callable[[float, float], bool]  # (remedied, baseline) -> metric back


def _cases() -> list[Case]:
    partner = entities_of(WORLD, "partner")[0]
    unit = entities_of(WORLD, "ad_unit")[0]
    default_unit = next(u for u in WORLD.ad_units if u.ad_unit_id == unit)
    publisher = WORLD.publisher_ids()[0]
    return [
        Case(
            "partner_outage",
            partner,
            metric("exchange", "exchange", "bid_latency_ms"),
            {"circuit_breakers": {partner: True}},
            lambda f, b: f > 1.3 * b,
            lambda r, b: r < 1.1 * b,
        ),
        Case(
            "partner_latency_spike",
            partner,
            metric("exchange", "exchange", "timeout_rate"),
            {"partner_weights": {partner: 0.0}},
            lambda f, b: f > 3 * b + 0.02,
            lambda r, b: r < 1.5 * b + 0.005,
        ),
        Case(
            "floor_too_high",
            unit,
            unit_fill(WORLD, unit),
            {"floors": {unit: default_unit.default_floor}},
            lambda f, b: f < 0.3 * b,
            lambda r, b: r > 0.8 * b,
        ),
        Case(
            "ad_unit_misconfiguration",
            unit,
            unit_fill(WORLD, unit),
            {"ad_unit_sizes": {unit: default_unit.size}},
            lambda f, b: f < 0.3 * b,
            lambda r, b: r > 0.8 * b,
        ),
        Case(
            "invalid_traffic_surge",
            publisher,
            metric("publisher", publisher, "fill_rate"),
            {"blocked_sources": [catalog.INVALID_SOURCE]},
            lambda f, b: f < 0.7 * b,
            lambda r, b: r > 0.9 * b,
        ),
        Case(
            "cache_collapse",
            "exchange",
            metric("exchange", "exchange", "cache_hit_rate"),
            {"cache_policy": {"mode": "replica"}},
            lambda f, b: f < 0.2,
            lambda r, b: r > 0.9 * b,
        ),
        Case(
            "capacity_saturation",
            "exchange",
            metric("exchange", "exchange", "error_rate"),
            {"capacity_units": 30},
            lambda f, b: f > 0.2,
            lambda r, b: r < 0.01,
        ),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_remediation_restores_the_metric(case: Case) -> None:
    plane = MemoryControlPlane(WORLD)
    fault: Fault = make_fault(
        WORLD, case.kind, start=T0 + timedelta(minutes=5), minutes=60, entity=case.entity
    )
    live = LiveExchange(WORLD, plane, start=T0, impressions_per_day=3e6, faults=lambda _at: [fault])
    values = []
    for minute in range(max(REMEDIED) + 1):
        if minute == 15:
            plane.apply(case.remedy, actor="adops-agent", reason=f"fix {case.kind}")
        values.append(case.probe(*live.step()))
    series = np.array(values)
    baseline = float(np.nanmean(series[list(BASELINE)]))
    faulty = float(np.nanmean(series[list(FAULTY)]))
    remedied = float(np.nanmean(series[list(REMEDIED)]))
    assert case.worse(faulty, baseline), (baseline, faulty)
    assert case.restored(remedied, baseline), (baseline, faulty, remedied)
    assert plane.current().actor == "adops-agent"
