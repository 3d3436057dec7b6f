"""Dynamic floor: seed formula by hand, vector == scalar, publisher config, control share."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from ssmas.pricing.floors import formula
from ssmas.pricing.floors.formula import (
    FloorError,
    PublisherFloorConfig,
    assign_control,
    competition_multiplier,
    confidence_factor,
    control_mask,
    decide_floor,
    decide_floors,
    dynamic_floor,
    dynamic_floors,
    fallback_decision,
)


@pytest.mark.parametrize(
    ("points", "factor"),
    [(0, 0.60), (10, 0.60), (11, 0.75), (100, 0.75), (101, 0.85), (1000, 0.85), (1001, 0.95)],
)
def test_confidence_factor_steps_are_strictly_above(points: int, factor: float) -> None:
    assert confidence_factor(points) == factor


@pytest.mark.parametrize(
    ("hour", "inventory", "multiplier"),
    [
        (20, "premium", 1.10),
        (19, "standard", 1.05),
        (23, "remnant", 1.05),
        (18, "premium", 1.05),
        (18, "standard", 1.0),
        (0, "remnant", 1.0),
    ],
)
def test_competition_multiplier(hour: int, inventory: str, multiplier: float) -> None:
    assert competition_multiplier(hour, inventory) == multiplier


@pytest.mark.parametrize(
    ("predicted", "points", "hour", "inventory", "expected"),
    [
        (3.0, 5000, 20, "premium", 3.135),  # 3.0 x 0.95 x 1.10
        (2.0, 50, 10, "standard", 1.5),  # 2.0 x 0.75 x 1.00
        (4.0, 500, 21, "standard", 3.57),  # 4.0 x 0.85 x 1.05
        (1.23456, 200, 9, "premium", 1.1018),  # 1.23456 x 0.85 x 1.05 = 1.10184...
        (0.4, 5000, 20, "premium", 0.5),  # 0.418 -> min floor 0.5
        (-1.0, 0, 3, "remnant", 0.5),  # negative prediction still floored at the minimum
        (20.0, 2000, 22, "premium", 10.0),  # 20.9 -> max floor 10
        (5.0, 3, 12, "remnant", 3.0),  # 5.0 x 0.60
    ],
)
def test_dynamic_floor_matches_hand_computed_seed_values(
    predicted: float, points: int, hour: int, inventory: str, expected: float
) -> None:
    scalar = dynamic_floor(
        predicted, data_points=points, hour_of_day=hour, inventory_type=inventory
    )
    assert scalar == pytest.approx(expected, abs=1e-12)
    vector = dynamic_floors(
        [predicted], data_points=[points], hour_of_day=[hour], is_premium=[inventory == "premium"]
    )
    assert vector[0] == scalar


def test_vector_floors_equal_scalar_floors_everywhere() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    predicted = rng.gamma(2.0, 2.0, n)
    points = rng.integers(0, 3000, n)
    hours = rng.integers(0, 24, n)
    inventory = rng.choice(["premium", "standard", "remnant"], n)
    config = PublisherFloorConfig(min_floor=0.2, max_floor=6.0, multiplier_max=0.9)
    vector = dynamic_floors(
        predicted,
        data_points=points,
        hour_of_day=hours,
        is_premium=inventory == "premium",
        config=config,
    )
    scalar = [
        dynamic_floor(
            float(p), data_points=int(k), hour_of_day=int(h), inventory_type=str(i), config=config
        )
        for p, k, h, i in zip(predicted, points, hours, inventory, strict=True)
    ]
    np.testing.assert_array_equal(vector, scalar)


def test_publisher_bounds_change_the_floor() -> None:
    args = {"data_points": 5000, "hour_of_day": 20, "inventory_type": "premium"}
    capped = PublisherFloorConfig(multiplier_max=1.0)
    assert dynamic_floor(3.0, config=capped, **args) == 3.0  # 1.045 capped at 1.0
    lifted = PublisherFloorConfig(multiplier_min=1.2)
    assert dynamic_floor(3.0, config=lifted, **args) == pytest.approx(3.6)
    narrow = PublisherFloorConfig(min_floor=1.0, max_floor=2.0)
    assert dynamic_floor(0.5, config=narrow, **args) == 1.0
    assert dynamic_floor(9.0, config=narrow, **args) == 2.0


def test_config_validation_is_clear() -> None:
    with pytest.raises(ValidationError, match="min_floor must not exceed max_floor"):
        PublisherFloorConfig(min_floor=5.0, max_floor=1.0)
    with pytest.raises(ValidationError, match="multiplier_min must not exceed multiplier_max"):
        PublisherFloorConfig(multiplier_min=1.5, multiplier_max=1.0)
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        PublisherFloorConfig(control_share=1.5)


def test_non_finite_prediction_is_refused() -> None:
    with pytest.raises(FloorError, match="finite"):
        dynamic_floor(float("nan"), data_points=1, hour_of_day=1, inventory_type="premium")
    with pytest.raises(FloorError, match="finite"):
        dynamic_floors([1.0, np.inf], data_points=[1, 1], hour_of_day=[1, 1], is_premium=[0, 0])


def test_control_share_is_sticky_and_close_to_the_share() -> None:
    ids = [f"imp-{i}" for i in range(100_000)]
    mask = control_mask(ids, 0.1)
    assert abs(mask.mean() - 0.1) < 0.01
    assert [assign_control(i, 0.1) for i in ids[:500]] == mask[:500].tolist()
    assert control_mask(ids[:500], 0.1).tolist() == mask[:500].tolist()
    assert not control_mask(ids[:100], 0.0).any()
    assert control_mask(ids[:100], 1.0).all()
    # A bigger share keeps the old control impressions in control (ramps are monotone).
    assert np.all(control_mask(ids, 0.2)[mask])


def test_decide_floor_reasons() -> None:
    args = {"data_points": 5000, "hour_of_day": 20, "inventory_type": "premium"}
    dynamic = decide_floor("imp-1", 3.0, **args)
    assert (dynamic.floor, dynamic.reason) == (3.135, "dynamic")
    assert (dynamic.confidence_factor, dynamic.competition_multiplier) == (0.95, 1.10)
    off = decide_floor("imp-1", 3.0, config=PublisherFloorConfig(enabled=False), **args)
    assert (off.floor, off.reason) == (None, "disabled")
    everyone = decide_floor("imp-1", 3.0, config=PublisherFloorConfig(control_share=1.0), **args)
    assert (everyone.floor, everyone.reason) == (None, "control")
    fallback = fallback_decision(PublisherFloorConfig(fallback_floor=1.7))
    assert (fallback.floor, fallback.reason) == (1.7, "fallback")
    assert fallback_decision().floor == 2.0  # the seed's fallbackCPM


def test_decide_floors_vector_matches_scalar_decisions() -> None:
    rng = np.random.default_rng(8)
    n = 3000
    ids = [f"imp-{i}" for i in range(n)]
    predicted, points = rng.gamma(2.0, 2.0, n), rng.integers(0, 3000, n)
    hours, premium = rng.integers(0, 24, n), rng.random(n) < 0.3
    config = PublisherFloorConfig(control_share=0.25)
    floors, control = decide_floors(
        ids,
        predicted,
        data_points=points,
        hour_of_day=hours,
        is_premium=premium,
        config=config,
    )
    for i in range(0, n, 7):
        one = decide_floor(
            ids[i],
            float(predicted[i]),
            data_points=int(points[i]),
            hour_of_day=int(hours[i]),
            inventory_type="premium" if premium[i] else "standard",
            config=config,
        )
        assert (one.reason == "control") == bool(control[i])
        assert one.floor == (None if np.isnan(floors[i]) else floors[i])
    assert abs(control.mean() - 0.25) < 0.03
    off, off_control = decide_floors(
        ids,
        predicted,
        data_points=points,
        hour_of_day=hours,
        is_premium=premium,
        config=PublisherFloorConfig(enabled=False),
    )
    assert np.isnan(off).all() and not off_control.any()
    with pytest.raises(FloorError, match="2 impression ids for 3000 predictions"):
        decide_floors(ids[:2], predicted, data_points=points, hour_of_day=hours, is_premium=premium)


def test_vector_factors_equal_the_scalar_factors_at_every_step_and_hour() -> None:
    points = np.array([0, 1, 10, 11, 99, 100, 101, 999, 1000, 1001, 50_000])
    np.testing.assert_array_equal(
        formula.confidence_factors(points), [confidence_factor(int(k)) for k in points]
    )
    hours = np.repeat(np.arange(24), 3)
    inventory = np.tile(["premium", "standard", "remnant"], 24)
    np.testing.assert_array_equal(
        formula.competition_multipliers(hours, inventory == "premium"),
        [competition_multiplier(int(h), str(i)) for h, i in zip(hours, inventory, strict=True)],
    )


def test_vector_floors_broadcast_scalar_context_over_the_predictions() -> None:
    predicted = [1.0, 4.0, 12.0]
    floors = dynamic_floors(predicted, data_points=500, hour_of_day=20, is_premium=True)
    expected = [
        dynamic_floor(p, data_points=500, hour_of_day=20, inventory_type="premium")
        for p in predicted
    ]
    np.testing.assert_array_equal(floors, expected)
