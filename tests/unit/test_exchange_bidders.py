"""Responsive bidders: floors change bids, and non-responding bidders replay the log exactly."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from ssmas.exchange import BidderConfig, Bidders, SimulationConfig, run_auctions, simulate_values
from ssmas.exchange.auction import FIRST_PRICE, SECOND_PRICE


@pytest.fixture(scope="module")
def blocks() -> list[tuple[pa.Table, np.ndarray]]:
    config = SimulationConfig(date(2026, 3, 2), 1, 20_000.0, seed=5, start_hour=12, hours=3)
    return list(simulate_values(config))


def _columns(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    unit = table.column("ad_unit_id").combine_chunks().indices.to_numpy()
    auction = table.column("auction_type").combine_chunks().indices.to_numpy()
    return unit, auction, table.column("floor_cpm").to_numpy()


def _run(blocks: list[tuple[pa.Table, np.ndarray]], config: BidderConfig, mult: float) -> float:
    bidders = Bidders(blocks[0][1].shape[0], 400, config)
    revenue = 0.0
    for table, values in blocks:
        unit, auction, floors = _columns(table)
        revenue += bidders.run_chunk(values, floors * mult, auction, unit).outcome.revenue_eur
    return revenue


def test_non_responding_bidders_reproduce_the_logged_auctions(blocks) -> None:
    bidders = Bidders(blocks[0][1].shape[0], 400, BidderConfig(responsive=False))
    for table, values in blocks:
        unit, auction, floors = _columns(table)
        for mult in (1.0, 2.5):
            got = bidders.run_chunk(values, floors * mult, auction, unit).outcome
            replay = run_auctions(table, floors * mult)
            np.testing.assert_allclose(got.clearing_cpm, replay.clearing_cpm, rtol=1e-6)
            np.testing.assert_array_equal(got.filled, replay.filled)
            if mult == 1.0:  # and the logged day itself
                logged = table.column("clearing_cpm").to_numpy()
                np.testing.assert_allclose(got.clearing_cpm, logged, rtol=1e-6)
    assert np.allclose(bidders.shade(), np.mean(bidders.config.shades))
    assert np.all(bidders.participation() == 1.0)


def test_first_price_bids_rise_to_the_floor_and_second_price_stays_truthful() -> None:
    bidders = Bidders(2, 1, BidderConfig())
    values = np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    auction = np.array([FIRST_PRICE, FIRST_PRICE, SECOND_PRICE])
    unit = np.zeros(3, dtype=np.int64)
    shade = bidders.shade()[0]
    low = bidders.bids(values, np.zeros(3, np.float32), auction, unit)
    high = bidders.bids(values, np.array([0.0, 1.9, 1.9], np.float32), auction, unit)
    assert low[0, 0] == pytest.approx(2.0 * shade)
    assert high[0, 1] == pytest.approx(1.9)  # shaded 1.5 < floor 1.9 <= value 2: bids the floor
    assert low[0, 2] == high[0, 2] == pytest.approx(2.0)  # second price: the value


def test_first_price_bidders_learn_to_shade_less_against_competition() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    values = rng.lognormal(0.0, 0.3, size=(6, n)).astype(np.float32)
    auction = np.full(n, FIRST_PRICE)
    unit = np.zeros(n, dtype=np.int64)
    crowded = Bidders(6, 1, BidderConfig())
    alone = Bidders(6, 1, BidderConfig())
    lone_values = values.copy()
    lone_values[1:] = 0.0
    for chunk in np.array_split(np.arange(n), 20):
        crowded.run_chunk(values[:, chunk], np.zeros(chunk.size), auction[chunk], unit[chunk])
        alone.run_chunk(lone_values[:, chunk], np.zeros(chunk.size), auction[chunk], unit[chunk])
    assert alone.shade()[0] < 0.55  # nobody to beat: shade to the bottom of the grid
    assert crowded.shade()[0] > alone.shade()[0] + 0.1


def test_floors_that_price_partners_out_lower_their_participation(blocks) -> None:
    gentle = Bidders(blocks[0][1].shape[0], 400, BidderConfig())
    harsh = Bidders(blocks[0][1].shape[0], 400, BidderConfig())
    for table, values in blocks:
        unit, auction, floors = _columns(table)
        gentle.run_chunk(values, floors, auction, unit)
        harsh.run_chunk(values, floors * 4.0, auction, unit)
    assert harsh.participation().mean() < gentle.participation().mean() - 0.05


def test_floors_change_revenue_differently_when_bidders_respond(blocks) -> None:
    fixed = BidderConfig(responsive=False)
    strategic = BidderConfig()
    # On logged bids a high floor looks far better than it is once partners react.
    fixed_gain = _run(blocks, fixed, 2.0) / _run(blocks, fixed, 1.0)
    strategic_gain = _run(blocks, strategic, 2.0) / _run(blocks, strategic, 1.0)
    assert strategic_gain < fixed_gain


def test_bidder_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        BidderConfig(shades=(0.5, 1.5))
    with pytest.raises(ValueError):
        BidderConfig(memory=0.0)
