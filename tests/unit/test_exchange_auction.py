"""Auction clearing: floors decide who wins and what is paid, in both mechanisms."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmas.exchange.auction import FIRST_PRICE, SECOND_PRICE, clear, run_auctions, top_two


def _bids(*rows: list[float]) -> np.ndarray:
    """(partners, impressions) matrix from per-impression bid lists."""
    return np.array(rows, dtype=np.float32).T


def test_second_price_pays_the_higher_of_second_bid_and_floor() -> None:
    bids = _bids([3.0, 1.0, 0.0], [3.0, 1.0, 0.0], [3.0, 1.0, 0.0])
    top = top_two(bids)
    out = clear(top, np.array([0.5, 2.0, 3.5], np.float32), np.zeros(3, np.int8))
    assert out.filled.tolist() == [True, True, False]
    assert out.clearing_cpm.tolist() == pytest.approx([1.0, 2.0, 0.0])
    assert out.winner.tolist() == [0, 0, -1]


def test_first_price_pays_the_winning_bid() -> None:
    top = top_two(_bids([2.0, 5.0], [0.0, 0.0]))
    out = clear(top, np.array([1.0, 1.0], np.float32), np.full(2, FIRST_PRICE, np.int8))
    assert out.clearing_cpm.tolist() == pytest.approx([5.0, 0.0])
    assert out.filled.tolist() == [True, False]


def test_no_bids_means_unfilled_even_with_zero_floor() -> None:
    top = top_two(_bids([0.0, 0.0, 0.0]))
    out = clear(top, np.zeros(1, np.float32), np.zeros(1, np.int8))
    assert not out.filled[0]
    assert top.received[0] == 0
    assert top.top_bidder[0] == -1


def test_negative_floors_are_refused() -> None:
    top = top_two(_bids([1.0]))
    with pytest.raises(ValueError, match="non-negative"):
        clear(top, np.array([-0.1], np.float32), np.zeros(1, np.int8))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0.125, 50.0, width=32) | st.just(0.0), min_size=1, max_size=6),
        min_size=1,
        max_size=20,
    ).filter(lambda rows: len({len(r) for r in rows}) == 1),
    st.floats(0.0, 20.0, width=32),
)
def test_clearing_matches_a_direct_reading_of_the_rules(
    rows: list[list[float]], floor: float
) -> None:
    bids = _bids(*rows)
    top = top_two(bids)
    out = clear(top, np.full(len(rows), floor, np.float32), np.zeros(len(rows), np.int8))
    for i, row in enumerate(rows):
        valid = sorted((b for b in row if b > 0), reverse=True)
        assert top.received[i] == len(valid)
        if not valid or valid[0] < np.float32(floor):
            assert not out.filled[i] and out.clearing_cpm[i] == 0
            continue
        second = valid[1] if len(valid) > 1 else 0.0
        assert out.filled[i]
        assert out.clearing_cpm[i] == pytest.approx(max(second, floor), rel=1e-6)
        assert row[out.winner[i]] == pytest.approx(valid[0])


def test_replay_reuses_logged_bids_under_new_floors() -> None:
    logged = pa.table(
        {
            "top_bid_cpm": pa.array([4.0, 2.0, 1.0, 0.0], pa.float32()),
            "second_bid_cpm": pa.array([1.0, 1.5, 0.0, 0.0], pa.float32()),
            "auction_type": ["second_price", "second_price", "first_price", "second_price"],
        }
    )
    low = run_auctions(logged, 0.5)
    high = run_auctions(logged, np.array([3.0, 3.0, 0.5, 0.0]))
    assert low.clearing_cpm.tolist() == pytest.approx([1.0, 1.5, 1.0, 0.0])
    assert high.clearing_cpm.tolist() == pytest.approx([3.0, 0.0, 1.0, 0.0])
    assert low.fill_rate == pytest.approx(0.75)
    assert high.revenue_eur == pytest.approx(4.0 / 1000.0)
    assert SECOND_PRICE == 0
