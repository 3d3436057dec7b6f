"""Responsive floor evaluation: no new optimism with fixed bidders; floors move strategic bids."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from ssmas.exchange import FIRST_PRICE, BidderConfig, SimulationConfig, run_auctions
from ssmas.pricing.floors.formula import SEED_MAX_FLOOR
from ssmas.pricing.floors.responsive import (
    Day,
    best_static_by_key,
    day_floors,
    evaluate_seed,
    first_price_revenue,
    fit_first_price,
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


class _UnitMeanModel:
    """A stand-in model: every row's prediction is its ad unit's mean logged top bid."""

    def __init__(self, days: list[Day]) -> None:
        unit = np.concatenate([d.unit for d in days])
        top = np.concatenate([d.table.column("top_bid_cpm").to_numpy() for d in days])
        self.mean = np.bincount(unit, weights=top) / np.maximum(np.bincount(unit), 1)

    def predict_frame(self, table: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        unit = np.asarray(table.column("ad_unit_id").combine_chunks().indices)  # type: ignore[attr-defined]
        point = self.mean[unit]
        return point, 0.8 * point, 1.2 * point


def test_first_price_rows_alone_give_the_first_price_revenue(days: list[Day]) -> None:
    held = days[-1]
    n_units = int(max(d.unit.max() for d in days)) + 1
    floors = np.full(held.table.num_rows, 0.4)
    per_unit = first_price_revenue(
        [held], [floors], BidderConfig(responsive=False), n_units, seed=0
    )
    replay = run_auctions(held.table, floors)
    first = held.auction == FIRST_PRICE
    assert first.any() and (~first).any()
    expected = float(replay.clearing_cpm[first].sum(dtype=np.float64)) / 1000
    assert per_unit.sum() == pytest.approx(expected, rel=1e-6)
    assert np.all(per_unit[np.unique(held.unit[~first])] == 0.0)


def test_first_price_floors_are_chosen_by_rerunning_the_training_days(days: list[Day]) -> None:
    train = days[:2]
    n_units = int(max(d.unit.max() for d in days)) + 1
    model = _UnitMeanModel(train)
    fitted = fit_floors(train, n_units, None)
    fit_first_price(train, fitted, model, BidderConfig(), n_units, seed=5)
    assert fitted.fp_static is not None and fitted.fp_mult is not None
    fp_units = np.unique(train[-1].unit[train[-1].auction == FIRST_PRICE])
    chosen = fitted.fp_static[fp_units] + fitted.fp_mult[fp_units] * model.mean[fp_units]
    # Against shading bidders the re-run finds floors that pay: they beat no floor on the
    # measured training day (on the logged value bids no first-price floor could).
    assert np.all(chosen > 0)
    point = [np.asarray(model.predict_frame(d.table)[0]) for d in train]

    def rerun(static: np.ndarray, mult: np.ndarray) -> np.ndarray:
        return first_price_revenue(
            train, [static[d.unit] + mult[d.unit] * p for d, p in zip(train, point, strict=True)],
            BidderConfig(), n_units, seed=5,
        )  # fmt: skip

    zero = np.zeros(n_units)
    assert (
        rerun(fitted.fp_static, fitted.fp_mult)[fp_units].sum() > rerun(zero, zero)[fp_units].sum()
    )
    # The tuned policy uses them on first-price rows and k x basis on the others.
    fitted.tuned_basis, fitted.tuned_k = "point", 1.1
    floors = day_floors("tuned", days[-1], fitted, model, np.random.default_rng(0))
    p = model.predict_frame(days[-1].table)[0]
    first = days[-1].auction == FIRST_PRICE
    u = days[-1].unit
    np.testing.assert_allclose(floors[~first], np.clip(1.1 * p[~first], 0, SEED_MAX_FLOOR))
    np.testing.assert_allclose(
        floors[first], np.clip(fitted.fp_static[u[first]] + fitted.fp_mult[u[first]] * p[first],
                               0, SEED_MAX_FLOOR),
    )  # fmt: skip
