"""Responsive floor evaluation: no new optimism with fixed bidders; floors move strategic bids."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from ssmas.exchange import BidderConfig, SimulationConfig, run_auctions
from ssmas.pricing.floors.responsive import (
    Day,
    best_static_by_key,
    day_floors,
    evaluate_seed,
    fit_floors,
    mean_ci,
    simulate_days,
    summarise,
)

START = date(2026, 3, 2)
VOLUME = 6_000.0
POLICIES = ("none", "own", "static", "per_unit", "prebid")


@pytest.fixture(scope="module")
def days() -> list[Day]:
    return simulate_days(SimulationConfig(START, 3, VOLUME, seed=3))


def test_fixed_bidders_reproduce_the_logged_bid_replay(days: list[Day]) -> None:
    run = evaluate_seed(
        3, START, 3, VOLUME, held_out=1, bidder_config=BidderConfig(responsive=False),
        with_model=False, policies=POLICIES, simulated=days,
    )  # fmt: skip
    held = days[-1]
    n_units = int(max(d.unit.max() for d in days)) + 1
    fitted = fit_floors(days[:2], n_units, None)
    for name in ("none", "own", "static", "per_unit"):
        floors = day_floors(name, held, fitted, None, np.random.default_rng(0))
        replay = run_auctions(held.table, floors)
        got = run.results[name][0]
        assert got.revenue_eur == pytest.approx(replay.revenue_eur, rel=1e-6)
        assert got.fill_rate == pytest.approx(replay.fill_rate, abs=1e-9)
    logged = float(held.table.column("clearing_cpm").to_numpy().sum(dtype=np.float64)) / 1000
    assert run.results["own"][0].revenue_eur == pytest.approx(logged, rel=1e-6)


def test_strategic_bidders_make_floors_earn_differently_from_the_log(days: list[Day]) -> None:
    fixed = evaluate_seed(
        3, START, 3, VOLUME, held_out=1, bidder_config=BidderConfig(responsive=False),
        with_model=False, policies=("per_unit", "none"), simulated=days,
    )  # fmt: skip
    strategic = evaluate_seed(
        3, START, 3, VOLUME, held_out=1, with_model=False, policies=("per_unit", "none"),
        simulated=days, fixed_reference=("per_unit", "none"),
    )  # fmt: skip
    f, s = fixed.results, strategic.results
    # Same values, same floors: only the bidders' response differs, and it changes the money.
    assert s["per_unit"][0].revenue_eur != pytest.approx(f["per_unit"][0].revenue_eur, rel=1e-3)
    # Without a floor, first-price shading costs the seller revenue.
    assert s["none"][0].revenue_first_eur < f["none"][0].revenue_first_eur
    # The fixed-bidder reference inside a strategic run is the fixed run itself.
    for name in ("per_unit", "none"):
        assert strategic.fixed_results[name][0].revenue_eur == pytest.approx(
            f[name][0].revenue_eur, rel=1e-9
        )
    summary = summarise([strategic], candidate="none")
    assert summary["pairs"] == 1
    fixed_uplift = 100 * (f["none"][0].revenue_eur / f["per_unit"][0].revenue_eur - 1)
    assert summary["fixed_bidders_uplift_pct"] == pytest.approx(fixed_uplift, abs=0.01)
    assert set(summary["policies"]) == {"per_unit", "none"}


def test_best_static_by_key_picks_each_keys_best_floor() -> None:
    key = np.array([0, 0, 1, 1])
    top = np.array([2.0, 2.0, 1.0, 5.0])
    second = np.array([0.5, 0.5, 0.2, 0.1])
    floors, rows = best_static_by_key(key, top, second, np.zeros(4, bool), 2, [0.0, 1.0, 2.0, 5.0])
    assert floors.tolist() == [2.0, 5.0]
    assert rows.tolist() == [2, 2]


def test_mean_ci_and_bad_holdout() -> None:
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and low < 2.0 < high
    with pytest.raises(ValueError):
        evaluate_seed(1, START, 2, VOLUME, held_out=2, with_model=False)
