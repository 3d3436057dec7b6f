"""Demand partners that respond to floors: shading in first price, truthful second price, exits.

The exchange draws each partner's bid as its *value* of the impression (``demand.draw_bids``).
Logged days use those values as bids. :class:`Bidders` turns values into bids that react to the
floors a partner sees, and learns from what happened, one chunk of auctions at a time:

* second price: truthful, the bid is the value (bidding it is a dominant strategy);
* first price: the bid is ``shade x value`` with a shading factor per partner learned by Hedge
  (multiplicative weights) over a grid of factors. After each chunk the partner scores every
  factor on the chunk's first-price auctions against the best competing bid and the floor
  (the minimum bid to win, which first-price exchanges report back) and re-weights the grid.
  A floor-aware partner whose value clears the floor but whose shaded bid does not bids the
  floor instead: floors raise first-price bids, as the reserve-price field tests saw;
* participation: a partner tracks, per ad unit, the share of its values the floor priced out
  (moving average over chunks). Above ``tolerance`` its participation on that unit falls by
  ``dropout_elasticity`` per point, so floors that price a partner out cost the unit its bids,
  including the ones that would have cleared.

``Bidders(..., responsive=False)`` bids the values unchanged and never learns: clearing then
reproduces the logged auctions exactly (the evaluation's check that it adds no optimism).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ssmas.exchange.auction import FIRST_PRICE, AuctionOutcome, TopBids, clear, top_two

SHADES: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(11))  # 0.50 … 1.00
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BidderConfig:
    """How partners respond; the defaults are the benchmark's strategic bidders."""

    responsive: bool = True
    shades: tuple[float, ...] = SHADES
    learning_rate: float = 20.0  # Hedge step on utility normalised by the partner's value
    floor_aware: bool = True
    tolerance: float = 0.25  # priced-out share a partner accepts before it pulls back
    dropout_elasticity: float = 1.0  # participation lost per point of priced-out share above it
    memory: float = 0.2  # weight of the latest chunk in the priced-out moving average
    min_participation: float = 0.2

    def __post_init__(self) -> None:
        if not self.shades or min(self.shades) <= 0 or max(self.shades) > 1:
            raise ValueError("shading factors must be in (0, 1]")
        if not 0.0 < self.memory <= 1.0:
            raise ValueError("memory must be in (0, 1]")
        if not 0.0 <= self.min_participation <= 1.0:
            raise ValueError("min_participation must be in [0, 1]")


@dataclass
class ChunkResult:
    """One chunk cleared with responsive bids: outcome, bids and the winners' surplus."""

    outcome: AuctionOutcome
    top: TopBids
    bids: FloatArray
    surplus_eur: float  # winners' value minus price, / 1000


@dataclass
class Bidders:
    """The partners' state: Hedge log-weights over shades and priced-out shares per ad unit."""

    n_partners: int
    n_units: int
    config: BidderConfig = field(default_factory=BidderConfig)
    seed: int = 0
    log_weights: FloatArray = field(init=False)
    priced_out: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self.log_weights = np.zeros((self.n_partners, len(self.config.shades)), np.float64)
        self.priced_out = np.zeros((self.n_partners, self.n_units), np.float64)
        self._rng = np.random.default_rng(self.seed)
        self._grid = np.asarray(self.config.shades, dtype=np.float64)

    def shade(self) -> npt.NDArray[np.float64]:
        """Each partner's current shading factor: the Hedge-weighted mean of the grid."""
        w = np.exp(self.log_weights - self.log_weights.max(axis=1, keepdims=True))
        result: npt.NDArray[np.float64] = (w @ self._grid) / w.sum(axis=1)
        return result

    def participation(self) -> npt.NDArray[np.float64]:
        """Probability (partners, units) that a partner bids on a unit at all."""
        cfg = self.config
        excess = np.maximum(self.priced_out - cfg.tolerance, 0.0)
        result: npt.NDArray[np.float64] = np.clip(
            1.0 - cfg.dropout_elasticity * excess, cfg.min_participation, 1.0
        )
        return result

    def bids(
        self, values: FloatArray, floors: FloatArray, auction: np.ndarray, unit: np.ndarray
    ) -> FloatArray:
        """Bids (partners, n) for the chunk's values; 0 = no bid."""
        if not self.config.responsive:
            return values
        bids = values.copy()
        stay = self._rng.random(values.shape) < self.participation()[:, unit]
        bids *= stay
        first = np.asarray(auction) == FIRST_PRICE
        if first.any():
            v = bids[:, first]
            shaded = (v * self.shade()[:, None].astype(np.float32)).astype(np.float32)
            if self.config.floor_aware:
                f = floors[first][None, :]
                shaded = np.where((v >= f) & (shaded < f), f, shaded).astype(np.float32)
            bids[:, first] = shaded
        return bids

    def run_chunk(
        self, values: FloatArray, floors: npt.ArrayLike, auction: np.ndarray, unit: np.ndarray
    ) -> ChunkResult:
        """Bid, clear against ``floors``, then learn from the outcome."""
        floor_arr = np.asarray(floors, dtype=np.float32)
        bids = self.bids(values, floor_arr, auction, unit)
        top = top_two(bids)
        outcome = clear(top, floor_arr, np.asarray(auction))
        winner = np.maximum(outcome.winner, 0)
        won_value = np.where(outcome.filled, values[winner, np.arange(values.shape[1])], 0.0)
        surplus = float((won_value - outcome.clearing_cpm).sum(dtype=np.float64) / 1000.0)
        if self.config.responsive:
            self._learn(values, bids, top, floor_arr, np.asarray(auction), unit)
        return ChunkResult(outcome, top, bids, surplus)

    def _learn(
        self,
        values: FloatArray,
        bids: FloatArray,
        top: TopBids,
        floors: FloatArray,
        auction: np.ndarray,
        unit: np.ndarray,
    ) -> None:
        cfg = self.config
        has_value = values > 0
        below = has_value & (values < floors[None, :])
        out_count = np.stack([np.bincount(unit, weights=r, minlength=self.n_units) for r in below])
        seen = np.stack([np.bincount(unit, weights=r, minlength=self.n_units) for r in has_value])
        share = np.divide(out_count, seen, out=np.zeros_like(out_count), where=seen > 0)
        self.priced_out = np.where(
            seen > 0, (1 - cfg.memory) * self.priced_out + cfg.memory * share, self.priced_out
        )
        first = auction == FIRST_PRICE
        if not first.any():
            return
        v = values[:, first].astype(np.float64)
        f = floors[first].astype(np.float64)
        partners = np.arange(self.n_partners)[:, None]
        # Best competing bid for each partner: the top bid unless it is its own.
        rival = np.where(
            top.top_bidder[first][None, :] == partners, top.second[first], top.top[first]
        ).astype(np.float64)
        active = bids[:, first] > 0  # a partner that sat the auction out learns nothing from it
        norm = np.maximum((v * active).sum(axis=1), 1e-9)
        for s, factor in enumerate(self._grid):
            b = v * factor
            if cfg.floor_aware:
                b = np.where((v >= f) & (b < f), f, b)
            win = active & (b >= f) & (b > rival)
            utility = ((v - b) * win).sum(axis=1)
            self.log_weights[:, s] += cfg.learning_rate * utility / norm
