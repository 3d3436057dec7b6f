"""A batch's floor decisions taken as arrays (``decide_many``) equal ``decide``'s row by row,
and their log rows (``decision_rows``) equal ``decision_row``'s."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ssmas.pricing.answers import Priced
from ssmas.pricing.floor_serving import (
    REASONS,
    decide,
    decide_many,
    decision_row,
    decision_rows,
)
from ssmas.pricing.floors import DEFAULT_CONFIG, PublisherFloorConfig
from ssmas.pricing.schemas import FloorRequest

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
