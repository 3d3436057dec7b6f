"""Auction clearing with floors: first price and second price, vectorised over impressions.

Rules: a bid below the floor loses; with no bid at or above the floor the impression is unfilled;
a second-price winner pays ``max(second bid, floor)``, a first-price winner pays its bid. Only
the top two bids matter, so a logged day can be replayed under any floors (``run_auctions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SECOND_PRICE = 0
FIRST_PRICE = 1


@dataclass(frozen=True)
class TopBids:
    """The two best bids of each impression and who made the best one (-1: no bid)."""

    top: np.ndarray  # float32 EUR CPM, 0 when no bid
    second: np.ndarray  # float32 EUR CPM, 0 when fewer than two bids
    top_bidder: np.ndarray  # int16 partner index
    received: np.ndarray  # int8 number of valid bids


@dataclass(frozen=True)
class AuctionOutcome:
    """Result of each auction: filled flag, price paid (0 when unfilled) and winner (-1)."""

    filled: np.ndarray  # bool
    clearing_cpm: np.ndarray  # float32 EUR
    winner: np.ndarray  # int16 partner index or -1

    @property
    def revenue_eur(self) -> float:
        """Revenue of the impressions: each pays its clearing CPM / 1000."""
        return float(self.clearing_cpm.sum(dtype=np.float64) / 1000.0)

    @property
    def fill_rate(self) -> float:
        return float(self.filled.mean()) if self.filled.size else 0.0


def top_two(bids: np.ndarray) -> TopBids:
    """Top two bids per impression of a (partners, impressions) matrix where 0 means no bid."""
    n_partners, n = bids.shape
    top = np.zeros(n, dtype=np.float32)
    second = np.zeros(n, dtype=np.float32)
    bidder = np.full(n, -1, dtype=np.int16)
    received = np.zeros(n, dtype=np.int8)
    for p in range(n_partners):
        row = bids[p]
        received += row > 0
        better = row > top
        np.copyto(second, np.where(better, top, np.maximum(second, row)))
        np.copyto(top, np.where(better, row, top))
        bidder[better] = p
    return TopBids(top, second, bidder, received)


def clear(top_bids: TopBids, floors: np.ndarray, auction_type: np.ndarray) -> AuctionOutcome:
    """Clear every auction against its floor; ``auction_type`` is 0 (second) or 1 (first)."""
    floors = np.asarray(floors, dtype=np.float32)
    if np.any(floors < 0) or not np.all(np.isfinite(floors)):
        raise ValueError("floors must be finite and non-negative")
    top, second = top_bids.top, top_bids.second
    filled = (top > 0) & (top >= floors)
    second_price = np.maximum(second, floors)
    price = np.where(np.asarray(auction_type) == FIRST_PRICE, top, second_price)
    clearing = np.where(filled, price, np.float32(0.0)).astype(np.float32)
    winner = np.where(filled, top_bids.top_bidder, -1).astype(np.int16)
    return AuctionOutcome(filled=filled, clearing_cpm=clearing, winner=winner)


def _column(data: Any, name: str) -> np.ndarray:
    if isinstance(data, dict):
        return np.asarray(data[name])
    column = data[name]
    if hasattr(column, "to_numpy") and not hasattr(column, "dtype"):  # pyarrow column
        return np.asarray(column.to_numpy())
    return np.asarray(column)


def run_auctions(
    impressions: Any, floors: np.ndarray | float, rng: np.random.Generator | None = None
) -> AuctionOutcome:
    """Replay logged impressions under new ``floors`` (array per row, or one uniform floor).

    ``impressions`` is a pandas DataFrame, a pyarrow Table or a dict of arrays with the lake
    columns ``top_bid_cpm``, ``second_bid_cpm`` and ``auction_type`` ("second_price" /
    "first_price" or 0 / 1). Replays are deterministic, so ``rng`` is accepted and unused.
    """
    del rng
    top = _column(impressions, "top_bid_cpm").astype(np.float32)
    second = _column(impressions, "second_bid_cpm").astype(np.float32)
    kind = _column(impressions, "auction_type")
    auction = (kind == "first_price") if kind.dtype.kind in "OUS" else (kind == FIRST_PRICE)
    bidder = np.where(top > 0, 0, -1).astype(np.int16)
    received = ((top > 0).astype(np.int8) + (second > 0).astype(np.int8)).astype(np.int8)
    floor_array = np.broadcast_to(np.asarray(floors, dtype=np.float32), top.shape)
    outcome = clear(TopBids(top, second, bidder, received), floor_array, auction.astype(np.int8))
    return outcome
