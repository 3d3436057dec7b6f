"""A batch's floor decisions taken as arrays (``decide_many``) equal ``decide``'s row by row,
their log rows (``decision_rows``) equal ``decision_row``'s, their answer
(``floor_batch_json``) equals ``floor_body``'s and their counts (``ServingStats.floors_many``)
equal ``ServingStats.floors``'."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest

from ssmas.core.metrics import REGISTRY
from ssmas.pricing.floors.decisions import (
    REASONS,
    decide,
    decide_many,
    decision_row,
    decision_rows,
    floor_batch_json,
    floor_body,
)
from ssmas.pricing.floors.formula import DEFAULT_CONFIG, PublisherFloorConfig
from ssmas.pricing.schemas import FloorRequest
from ssmas.pricing.serving.responses import Priced
from ssmas.pricing.serving.stats import ServingStats

CONFIGS: dict[str | None, PublisherFloorConfig] = {
    "demo": PublisherFloorConfig(min_floor=0.1, multiplier_max=0.7, control_share=0.1),
    "seed": DEFAULT_CONFIG,
    "off": PublisherFloorConfig(enabled=False, control_share=0.2),
    "wide": PublisherFloorConfig(control_share=0.3, min_floor=0.0, multiplier_min=0.9),
    None: DEFAULT_CONFIG,
}
INVENTORY = ("premium", "standard", "remnant")


def minute(n: int, seed: int) -> tuple[list[FloorRequest], Priced]:
    rng = np.random.default_rng(seed)
    publishers = list(CONFIGS)
    reqs = [
        FloorRequest(
            impression_id=f"live-{seed}-{i}",
            hour_of_day=int(rng.integers(0, 24)),
            day_of_week=int(rng.integers(1, 8)),
            country_tier=int(rng.integers(1, 4)),
            device_category="mobile",
            format="banner",
            inventory_type=INVENTORY[int(rng.integers(0, 3))],
            publisher_id=publishers[int(rng.integers(0, len(publishers)))],
            data_points=int(rng.integers(0, 3000)) if rng.random() < 0.2 else None,
        )
        for i in range(n)
    ]
    priced = Priced.empty(n)
    priced.point[:] = rng.gamma(2.0, 1.0, n) * rng.choice([0.01, 1.0, 8.0], n)
    priced.history[:] = rng.choice([0, 5, 50, 500, 5000], n)
    priced.fallback[:] = rng.random(n) < 0.05
    challenger = np.flatnonzero(rng.random(n) < 0.2)
    priced.set_variant(challenger, "challenger", "7")
    return reqs, priced


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decide_many_equals_decide_row_by_row(seed: int) -> None:
    reqs, priced = minute(3000, seed)
    decided = decide_many(reqs, priced, CONFIGS)
    assert len(decided) == len(reqs)
    seen = set()
    for i, req in enumerate(reqs):
        expected = decide(req, priced.row(i), CONFIGS[req.publisher_id])
        assert decided.decision(i, req) == expected, i
        assert REASONS[int(decided.reason[i])] == expected.reason
        assert decided.mask(expected.reason)[i]
        if expected.floor is None:
            assert np.isnan(decided.floor[i])
        else:
            assert decided.floor[i] == expected.floor
        seen.add(expected.reason)
    assert seen == set(REASONS)  # every branch was exercised
    masks = np.stack([decided.mask(reason) for reason in REASONS])
    assert (masks.sum(axis=0) == 1).all()  # each decision has exactly one reason


@pytest.mark.parametrize("seed", [0, 1])
def test_decision_rows_equal_decision_row_by_row(seed: int) -> None:
    reqs, priced = minute(1500, seed)
    decided = decide_many(reqs, priced, CONFIGS)
    at = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)
    rows = decision_rows(reqs, priced, decided, at)
    expected = [
        decision_row(req, priced.row(i), decide(req, priced.row(i), CONFIGS[req.publisher_id]), at)
        for i, req in enumerate(reqs)
    ]
    assert rows == expected
    # Same values and the same Python types (the writer binds them as they are).
    for got, want in zip(rows, expected, strict=True):
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
    assert {r["variant"] for r in rows} == {"champion", "challenger"}
    assert any(r["floor"] is None for r in rows) and any(r["fallback"] for r in rows)


def test_an_empty_batch() -> None:
    decided = decide_many([], Priced.empty(0), CONFIGS)
    assert decided.floor.size == 0 and decided.reason.size == 0 and not decided.single
    assert len(decided) == 0 and decided.mask("dynamic").size == 0
    assert decision_rows([], Priced.empty(0), decided, datetime.now(UTC)) == []


def pairs(raw: bytes) -> list[list[tuple[str, Any]]]:
    """The answer's objects as (field, value) pairs in the order they were written."""
    parsed: list[list[tuple[str, Any]]] = json.loads(raw, object_pairs_hook=list)
    return parsed


def test_floor_batch_json_equals_floor_body_row_by_row() -> None:
    reqs, priced = minute(2000, 5)
    # Prices whose x 10^4 lies on or near a half (numpy's round and Python's part there), huge
    # ones, and whole blocks of fallback rows (no model answered for them).
    near_half = np.arange(400) * 1e-4 + 5e-5
    priced.point[:400] = near_half * np.where(np.arange(400) % 2, 1.0, 100.0)
    priced.point[400:410] = [123456.78915, 2.5e9 + 0.00005, *([1e6 + 0.00015] * 8)]
    priced.fallback[1500:1600] = True
    priced.version[1500:1600] = ["none"] * 100
    decided = decide_many(reqs, priced, CONFIGS)
    stamp, latency = "2026-03-04T19:00:00.123456Z", 12.345678
    expected = [
        floor_body(
            req,
            priced.row(i),
            decide(req, priced.row(i), CONFIGS[req.publisher_id]),
            stamp,
            latency,
        )
        for i, req in enumerate(reqs)
    ]
    raw = floor_batch_json(reqs, priced, decided, stamp, latency)
    got = pairs(raw)
    assert got == [list(body.items()) for body in expected]  # values and field order
    # Bit for bit what the per-row answer (orjson of the dicts) parses to, types included.
    assert got == pairs(orjson.dumps(expected))
    for row, body in zip(got, expected, strict=True):
        assert [type(v) for _, v in row] == [type(v) for v in body.values()]
    rounded = [row[3][1] for row in got[:400]]
    assert rounded == [round(float(v), 4) for v in priced.point[:400]]
    assert rounded != np.round(priced.point[:400], 4).tolist()  # the cases numpy gets wrong
    reasons = {body["reason"] for body in expected}
    assert reasons == set(REASONS)
    assert {body["confidence_factor"] for body in expected} == {0.6, 0.75, 0.85, 0.95, 1.0}
    assert {body["competition_multiplier"] for body in expected} == {1.0, 1.05, 1.1}
    assert any(r.data_points is None for r in reqs) and any(r.data_points for r in reqs)


def test_the_decision_columns_equal_decide() -> None:
    reqs, priced = minute(1500, 6)
    decided = decide_many(reqs, priced, CONFIGS)
    for i, req in enumerate(reqs):
        expected = decide(req, priced.row(i), CONFIGS[req.publisher_id])
        assert decided.confidence[i] == expected.confidence_factor, i
        assert decided.competition[i] == expected.competition_multiplier, i


def counted() -> dict[tuple[str, str], float]:
    return {
        (reason, variant): REGISTRY.get_sample_value(
            "ssmas_pricing_floor_decisions_total", {"reason": reason, "variant": variant}
        )
        or 0.0
        for reason in REASONS
        for variant in ("champion", "challenger")
    }


def test_floors_many_counts_as_floors_does() -> None:
    reqs, priced = minute(1200, 7)
    decided = decide_many(reqs, priced, CONFIGS)
    rows = decision_rows(reqs, priced, decided, datetime.now(UTC))
    stats = ServingStats(remember_last=0)
    before = counted()
    stats.floors(rows)
    middle = counted()
    stats.floors_many(decided.reason, REASONS, priced.variant)
    after = counted()
    by_rows = {k: middle[k] - before[k] for k in before}
    by_columns = {k: after[k] - middle[k] for k in before}
    assert by_columns == by_rows
    assert sum(by_columns.values()) == len(reqs)
    assert by_columns[("fallback", "challenger")] > 0 and by_columns[("control", "champion")] > 0
    stats.floors_many(decided.reason[:0], REASONS, [])  # an empty batch counts nothing
    assert counted() == after
