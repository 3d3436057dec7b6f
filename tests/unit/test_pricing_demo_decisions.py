"""The demo's per-minute floor decisions, taken as arrays, equal ``floor_serving.decide``'s."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.pricing.answers import Priced
from ssmas.pricing.demo import DEMO_FLOOR_CONFIG, REASONS, decide_minute
from ssmas.pricing.floor_serving import decide
from ssmas.pricing.floors import DEFAULT_CONFIG, PublisherFloorConfig
from ssmas.pricing.schemas import FloorRequest

CONFIGS: dict[str | None, PublisherFloorConfig] = {
    "demo": DEMO_FLOOR_CONFIG,
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
    return reqs, priced


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decide_minute_equals_decide_row_by_row(seed: int) -> None:
    reqs, priced = minute(3000, seed)
    decided = decide_minute(reqs, priced, CONFIGS)
    seen = set()
    for i, req in enumerate(reqs):
        expected = decide(req, priced.row(i), CONFIGS[req.publisher_id])
        assert decided.decision(i, req) == expected, i
        assert REASONS[int(decided.reason[i])] == expected.reason
        if expected.floor is None:
            assert np.isnan(decided.floor[i])
        else:
            assert decided.floor[i] == expected.floor
        seen.add(expected.reason)
    assert seen == set(REASONS)  # every branch was exercised


def test_decide_minute_of_an_empty_minute() -> None:
    decided = decide_minute([], Priced.empty(0), CONFIGS)
    assert decided.floor.size == 0 and decided.reason.size == 0 and not decided.single
