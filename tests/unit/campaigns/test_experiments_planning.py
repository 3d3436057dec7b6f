"""Sample-size planner against statsmodels' NormalIndPower, and assignment's guarantees."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from ssmas.campaigns.experiments import (
    ExperimentDesign,
    ExperimentError,
    assign,
    assign_many,
    plan_experiment,
    sample_size_per_arm,
    srm_check,
)


def test_sample_size_reference_value() -> None:
    assert sample_size_per_arm(0.10, 0.11, alpha=0.05, power=0.8) == 14_745


@pytest.mark.parametrize(
    ("p0", "p1", "alpha", "power", "ratio"),
    [(0.10, 0.11, 0.05, 0.8, 1.0), (0.05, 0.06, 0.01, 0.9, 1.0), (0.30, 0.27, 0.05, 0.8, 2.0)],
)
def test_sample_size_matches_statsmodels(
    p0: float, p1: float, alpha: float, power: float, ratio: float
) -> None:
    ref = NormalIndPower().solve_power(
        proportion_effectsize(p1, p0), alpha=alpha, power=power, ratio=ratio
    )
    assert sample_size_per_arm(p0, p1, alpha=alpha, power=power, ratio=ratio) == math.ceil(ref)


def test_plan_run_length() -> None:
    plan = plan_experiment(0.10, 0.11, daily_units=4000, traffic_fraction=0.5)
    assert plan.per_arm == 14_745
    assert plan.total_units == 29_490
    assert plan.days == math.ceil(29_490 / 2000)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline": 0.1, "expected": 0.1},
        {"baseline": 0.0, "expected": 0.1},
        {"baseline": 0.1, "expected": 0.11, "alpha": 1.5},
    ],
)
def test_planner_refuses_bad_input(kwargs: dict[str, float]) -> None:
    with pytest.raises(ExperimentError):
        sample_size_per_arm(**kwargs)


def test_assignment_is_deterministic_and_per_experiment() -> None:
    a = ExperimentDesign.create("subject-line", ["control", "emoji"])
    b = ExperimentDesign.create("send-time", ["control", "emoji"])
    units = [f"lead-{i}" for i in range(2000)]
    first = assign_many(a, units)
    assert first == assign_many(
        ExperimentDesign.create("subject-line", ["control", "emoji"]), units
    )
    # Another experiment's split is independent: about half the units change arm.
    other = assign_many(b, units)
    changed = sum(x != y for x, y in zip(first, other, strict=True))
    assert 0.4 * len(units) < changed < 0.6 * len(units)


def test_assignment_follows_weights() -> None:
    design = ExperimentDesign.create("weights", [("a", 20), ("b", 30), ("c", 50)])
    counts = Counter(assign_many(design, [f"u{i}" for i in range(60_000)]))
    observed = [counts[n] for n in design.names]
    assert not srm_check(observed, design.weights).mismatch
    assert abs(counts["c"] / 60_000 - 0.5) < 0.01


def test_coverage_leaves_units_out() -> None:
    design = ExperimentDesign.create("partial", ["a", "b"], coverage=0.25)
    out = assign_many(design, [f"u{i}" for i in range(20_000)])
    share = sum(x is not None for x in out) / len(out)
    assert 0.23 < share < 0.27
    assert assign(design, "u1") == assign(design, "u1")


@pytest.mark.parametrize("weight", [0.0, -1.0])
def test_zero_traffic_variant_is_refused(weight: float) -> None:
    with pytest.raises(ExperimentError, match="positive traffic"):
        ExperimentDesign.create("x", [("control", 50), ("dead", weight)])


def test_duplicate_or_single_variant_refused() -> None:
    with pytest.raises(ExperimentError, match="unique"):
        ExperimentDesign.create("x", ["a", "a"])
    with pytest.raises(ExperimentError, match="at least 2"):
        ExperimentDesign.create("x", ["a"])
