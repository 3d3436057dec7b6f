"""Floor policies against bidders that respond: re-run the auctions, not the logged bids.

The replay of :mod:`.simulation` keeps the logged top two bids, so a floor can only take money
from the bidders and never loses any: it cannot see shading, floor-aware first-price bids or
partners that stop bidding. This evaluation re-runs each held-out day's auctions from every
partner's *value* (``ssmas.exchange.simulate_values``) through :class:`ssmas.exchange.Bidders`,
which shade, learn and pull back as the floors they see change.

For one simulator seed: every policy is fitted on the training days' logs (what an operator
has), then runs continuously over the last training day (the bidders' warm-up under that policy)
and the held-out days, with its own bidders; the held-out days are measured. Policies:

* ``none`` — no floor; ``own`` — the ad units' own floors (what the log shows);
* ``static`` — the best single floor on the training days; ``per_unit`` — the best static floor
  of each ad unit on the training days (the baseline every uplift is measured against);
* ``prebid`` — a Prebid-floors-style rule table: two model groups (weights 0.5 / 0.5), one keyed
  by ad unit x size x domain, one by size x domain, each rule the best static floor of its key
  on the training days (keys with fewer than ``MIN_RULE_ROWS`` rows fall back to the default,
  the best global static floor), and a 10% skip rate (no floor);
* ``seed`` — the seed's formula on the model's prediction; ``tuned`` — ``clip(k x basis)`` with
  ``k`` and the basis chosen on the last training day's logged bids (as :mod:`.simulation`
  does) on second-price ad units; on first-price units, where logged bids cannot show what a
  floor does to shading bidders, the floor each unit earned most with when the training days
  are re-run with responsive bidders (:func:`fit_first_price`);
* ``bandit`` — online, per ad unit: epsilon-greedy over multipliers of the unit's static floor,
  learning from the revenue per auction it earns, with a control share kept on the static floor.

With ``BidderConfig(responsive=False)`` every policy's figures equal the logged-bid replay
(``run_auctions``) on the same floors: the evaluation adds no optimism of its own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy import stats

from ssmas.exchange import FIRST_PRICE, BidderConfig, Bidders, SimulationConfig, simulate_values
from ssmas.pricing.floors.formula import SEED_MAX_FLOOR
from ssmas.pricing.floors.simulation import STATIC_GRID, seed_floors, tune_k

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MIN_RULE_ROWS = 200
SKIP_RATE = 0.10
BANDIT_ARMS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
BANDIT_EPSILON = 0.2
BANDIT_CONTROL = 0.10
BASELINE = "per_unit"
FP_STATIC = (0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3)
FP_MULTS = (0.4, 0.6, 0.8, 1.0, 1.15, 1.3)
Progress = Callable[[str], None]


@dataclass
class Day:
    """One simulated day: its blocks' tables and values, and the concatenated columns."""

    day: date
    tables: list[pa.Table]
    values: list[np.ndarray]
    table: pa.Table = field(init=False)
    unit: IntArray = field(init=False)
    auction: IntArray = field(init=False)
    bounds: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.table = pa.concat_tables(self.tables)
        self.unit = _codes(self.table, "ad_unit_id")
        self.auction = _codes(self.table, "auction_type")
        self.bounds = list(np.cumsum([0, *(t.num_rows for t in self.tables)]))


def _codes(table: pa.Table, name: str) -> IntArray:
    column = table.column(name).combine_chunks()
    return np.asarray(column.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class PolicyDay:
    """One policy on one held-out day."""

    revenue_eur: float
    revenue_first_eur: float
    revenue_second_eur: float
    fill_rate: float
    surplus_eur: float
    mean_floor: float


def best_static_by_key(
    key: IntArray,
    top: FloatArray,
    second: FloatArray,
    first: npt.NDArray[np.bool_],
    n_keys: int,
    grid: npt.ArrayLike = STATIC_GRID,
) -> tuple[FloatArray, IntArray]:
    """Best floor of ``grid`` per key on logged bids, and the rows behind each key."""
    grid_arr = np.asarray(grid, dtype=np.float64)
    revenue = np.empty((grid_arr.size, n_keys))
    for i, f in enumerate(grid_arr):
        price = np.where(first, top, np.maximum(second, f))
        earned = np.where((top > 0) & (top >= f), price, 0.0)
        revenue[i] = np.bincount(key, weights=earned, minlength=n_keys)
    rows = np.bincount(key, minlength=n_keys).astype(np.int64)
    return grid_arr[np.argmax(revenue, axis=0)], rows


@dataclass
class FittedFloors:
    """What the log-fitted policies learnt on the training days."""

    static: float
    per_unit: FloatArray
    rule_fine: dict[tuple[int, int, int], float]
    rule_coarse: dict[tuple[int, int], float]
    tuned_basis: str = "point"
    tuned_k: float = 1.0
    # First-price units' floors, ``fp_static + fp_mult x basis`` per unit (see fit_first_price).
    fp_static: FloatArray | None = None
    fp_mult: FloatArray | None = None


def fit_floors(train: Sequence[Day], n_units: int, model: Any | None) -> FittedFloors:
    """Fit the static, per-unit and rule-table floors (and the model's ``k``) on the logs."""
    table = pa.concat_tables([d.table for d in train])
    top = table.column("top_bid_cpm").to_numpy().astype(np.float64)
    second = table.column("second_bid_cpm").to_numpy().astype(np.float64)
    first = _codes(table, "auction_type") == FIRST_PRICE
    unit = _codes(table, "ad_unit_id")
    static = float(best_static_by_key(np.zeros(top.size, np.int64), top, second, first, 1)[0][0])
    per_unit, unit_rows = best_static_by_key(unit, top, second, first, n_units)
    per_unit = np.where(unit_rows >= MIN_RULE_ROWS, per_unit, static)
    size, domain = _codes(table, "ad_size"), _codes(table, "domain")
    fine_keys = np.stack([unit, size, domain], axis=1)
    coarse_keys = np.stack([size, domain], axis=1)
    rules: list[dict[Any, float]] = []
    for keys in (fine_keys, coarse_keys):
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        floors, rows = best_static_by_key(inverse.ravel(), top, second, first, len(uniq))
        rules.append(
            {
                tuple(int(x) for x in k): float(f)
                for k, f, r in zip(uniq, floors, rows, strict=True)
                if r >= MIN_RULE_ROWS
            }
        )
    fitted = FittedFloors(static, per_unit, rules[0], rules[1])
    if model is not None:
        basis, k, _ = tune_k(model, train[-1].table)
        fitted.tuned_basis, fitted.tuned_k = basis, k
    return fitted


def prebid_floors(day: Day, fitted: FittedFloors, rng: np.random.Generator) -> FloatArray:
    """Floors of the rule table: a model group per auction, then a skip-rate draw."""
    size, domain = _codes(day.table, "ad_size"), _codes(day.table, "domain")
    fine = np.array(
        [
            fitted.rule_fine.get((int(u), int(s), int(d)), fitted.static)
            for u, s, d in zip(day.unit, size, domain, strict=True)
        ]
    )
    coarse = np.array(
        [
            fitted.rule_coarse.get((int(s), int(d)), fitted.static)
            for s, d in zip(size, domain, strict=True)
        ]
    )
    group = rng.random(day.unit.size) < 0.5
    floors = np.where(group, fine, coarse)
    floors[rng.random(day.unit.size) < SKIP_RATE] = 0.0
    return floors


def day_floors(
    name: str, day: Day, fitted: FittedFloors, model: Any | None, rng: np.random.Generator
) -> FloatArray:
    """Per-row floors of a policy fixed in advance (every policy but the bandit)."""
    n = day.table.num_rows
    if name == "none":
        return np.zeros(n)
    if name == "own":
        return np.asarray(day.table.column("floor_cpm").to_numpy(), dtype=np.float64)
    if name == "static":
        return np.full(n, fitted.static)
    if name == "per_unit":
        return fitted.per_unit[day.unit]
    if name == "prebid":
        return prebid_floors(day, fitted, rng)
    if model is None:
        raise ValueError(f"policy {name!r} needs a model")
    point, lower, _ = model.predict_frame(day.table)
    if name == "seed":
        return np.asarray(seed_floors(model, day.table, point), dtype=np.float64)
    if name == "tuned":
        basis = np.asarray(point if fitted.tuned_basis == "point" else lower, dtype=np.float64)
        floors = np.clip(fitted.tuned_k * basis, 0.0, SEED_MAX_FLOOR)
        if fitted.fp_static is not None and fitted.fp_mult is not None:
            first = day.auction == FIRST_PRICE
            fp = fitted.fp_static[day.unit] + fitted.fp_mult[day.unit] * basis
            floors = np.where(first, np.clip(fp, 0.0, SEED_MAX_FLOOR), floors)
        return floors
    raise ValueError(f"unknown floor policy {name!r}")


def first_price_revenue(
    days: Sequence[Day],
    floors: Sequence[FloatArray],
    bidder_config: BidderConfig,
    n_units: int,
    seed: int,
) -> FloatArray:
    """First-price revenue per ad unit on the last of ``days``, the earlier ones a warm-up.

    Only first-price rows run: shading learns from first-price auctions alone and a partner's
    participation is per ad unit, and an ad unit has one auction type, so the first-price
    outcomes do not depend on the second-price rows.
    """
    n_partners = days[0].values[0].shape[0]
    bidders = Bidders(n_partners, n_units, bidder_config, seed=seed)
    revenue = np.zeros(n_units)
    for day, day_floors_ in zip(days, floors, strict=True):
        revenue[:] = 0.0
        for b, values in enumerate(day.values):
            lo, hi = day.bounds[b], day.bounds[b + 1]
            first = day.auction[lo:hi] == FIRST_PRICE
            if not first.any():
                continue
            unit = day.unit[lo:hi][first]
            auction = day.auction[lo:hi][first]
            chunk = bidders.run_chunk(values[:, first], day_floors_[lo:hi][first], auction, unit)
            price = chunk.outcome.clearing_cpm.astype(np.float64) / 1000.0
            revenue += np.bincount(unit, weights=price, minlength=n_units)
    return revenue


def fit_first_price(
    train: Sequence[Day],
    fitted: FittedFloors,
    model: Any,
    bidder_config: BidderConfig,
    n_units: int,
    seed: int,
) -> None:
    """Choose each first-price ad unit's floor by re-running its auctions with responding bidders.

    On logged first-price bids any floor only loses (the log holds values, so the fitted
    floors of those units sit near zero), yet shading bidders that see a floor bid up to it.
    The candidates are static floors (``FP_STATIC``) and multiples of the tuned basis
    (``FP_MULTS`` x the prediction the tuned floor uses); each runs on the training days with
    fresh bidders (the last day measured, the one before it a warm-up) and every first-price
    unit keeps the candidate that earned it most there. Only training days are used.
    """
    run = train[-2:]
    bases = []
    for day in run:
        point, lower, _ = model.predict_frame(day.table)
        bases.append(np.asarray(point if fitted.tuned_basis == "point" else lower, np.float64))
    candidates = [(s, 0.0) for s in FP_STATIC] + [(0.0, m) for m in FP_MULTS]
    rows = []
    for s, m in candidates:
        floors = [np.clip(s + m * b, 0.0, SEED_MAX_FLOOR) for b in bases]
        rows.append(first_price_revenue(run, floors, bidder_config, n_units, seed))
    revenue = np.stack(rows)
    best = np.argmax(revenue, axis=0)
    fitted.fp_static = np.array([candidates[i][0] for i in best])
    fitted.fp_mult = np.array([candidates[i][1] for i in best])


class UnitBandit:
    """Per ad unit epsilon-greedy over multipliers of the unit's static floor, with a control."""

    def __init__(self, base: FloatArray, seed: int) -> None:
        self.base = base
        self.rng = np.random.default_rng(seed)
        self.arms = np.asarray(BANDIT_ARMS)
        self.revenue = np.zeros((base.size, self.arms.size))
        self.count = np.zeros((base.size, self.arms.size))
        self._arm: IntArray = np.zeros(0, np.int64)

    def floors(self, unit: IntArray) -> FloatArray:
        mean = self.revenue / np.maximum(self.count, 1.0)
        mean = np.where(self.count > 0, mean, np.inf)  # try every arm once
        best = np.argmax(mean, axis=1)[unit]
        explore = self.rng.random(unit.size) < BANDIT_EPSILON
        arm = np.where(explore, self.rng.integers(0, self.arms.size, unit.size), best)
        control = self.rng.random(unit.size) < BANDIT_CONTROL
        self._arm = np.where(control, -1, arm)
        mult = np.where(control, 1.0, self.arms[np.maximum(arm, 0)])
        floors: FloatArray = self.base[unit] * mult
        return floors

    def learn(self, unit: IntArray, clearing_cpm: FloatArray) -> None:
        treated = self._arm >= 0
        self.revenue *= 0.98  # forget slowly: the bidders move too
        self.count *= 0.98
        np.add.at(self.revenue, (unit[treated], self._arm[treated]), clearing_cpm[treated])
        np.add.at(self.count, (unit[treated], self._arm[treated]), 1.0)


def run_policy(
    name: str,
    days: Sequence[Day],
    measured: int,
    fitted: FittedFloors,
    model: Any | None,
    bidder_config: BidderConfig,
    n_units: int,
    seed: int,
) -> list[PolicyDay]:
    """Run one policy over ``days`` with its own bidders; results for the last ``measured``."""
    n_partners = days[0].values[0].shape[0]
    bidders = Bidders(n_partners, n_units, bidder_config, seed=seed)
    bandit = UnitBandit(fitted.per_unit, seed) if name == "bandit" else None
    rng = np.random.default_rng(seed)
    results: list[PolicyDay] = []
    for index, day in enumerate(days):
        fixed = None if bandit is not None else day_floors(name, day, fitted, model, rng)
        revenue = np.zeros(2)
        filled = surplus = floor_sum = 0.0
        for b, values in enumerate(day.values):
            lo, hi = day.bounds[b], day.bounds[b + 1]
            unit, auction = day.unit[lo:hi], day.auction[lo:hi]
            floors = bandit.floors(unit) if bandit is not None else fixed[lo:hi]  # type: ignore[index]
            chunk = bidders.run_chunk(values, floors, auction, unit)
            price = chunk.outcome.clearing_cpm.astype(np.float64)
            if bandit is not None:
                bandit.learn(unit, price)
            first = auction == FIRST_PRICE
            revenue += (price[first].sum() / 1000.0, price[~first].sum() / 1000.0)
            filled += float(chunk.outcome.filled.sum())
            surplus += chunk.surplus_eur
            floor_sum += float(np.sum(floors))
        if index >= len(days) - measured:
            n = max(day.table.num_rows, 1)
            results.append(
                PolicyDay(
                    revenue_eur=float(revenue.sum()),
                    revenue_first_eur=float(revenue[0]),
                    revenue_second_eur=float(revenue[1]),
                    fill_rate=filled / n,
                    surplus_eur=surplus,
                    mean_floor=floor_sum / n,
                )
            )
    return results


POLICIES = ("none", "own", "static", "per_unit", "prebid", "seed", "tuned", "bandit")


@dataclass
class SeedRun:
    """All policies on the held-out days of one simulator seed."""

    seed: int
    held_out: list[date]
    fitted: FittedFloors
    results: dict[str, list[PolicyDay]]
    fixed_results: dict[str, list[PolicyDay]] = field(default_factory=dict)


def simulate_days(config: SimulationConfig) -> list[Day]:
    """The config's days in memory, block by block, with every partner's values."""
    by_day: dict[date, tuple[list[pa.Table], list[np.ndarray]]] = {}
    for table, values in simulate_values(config):
        ts = table.column("ts")[0].as_py()
        tables, vals = by_day.setdefault(ts.date(), ([], []))
        tables.append(table)
        vals.append(values)
    return [Day(d, t, v) for d, (t, v) in sorted(by_day.items())]


def evaluate_seed(
    seed: int,
    start: date,
    days: int,
    volume: float,
    *,
    held_out: int = 2,
    bidder_config: BidderConfig | None = None,
    with_model: bool = True,
    policies: Sequence[str] = POLICIES,
    threads: int = 1,
    progress: Progress | None = None,
    simulated: Sequence[Day] | None = None,
    fixed_reference: Sequence[str] = (),
) -> SeedRun:
    """Simulate ``days`` days, fit on the first ``days - held_out``, run every policy.

    ``simulated`` reuses the days of an earlier :func:`simulate_days` of the same config;
    ``fixed_reference`` names policies also run with non-responding bidders (the logged-bid
    figures, for comparison), into ``SeedRun.fixed_results``.
    """
    if not 1 <= held_out < days:
        raise ValueError("held_out must be at least 1 and leave at least one training day")
    config = bidder_config or BidderConfig()
    sim = SimulationConfig(start, days, volume, seed=seed)
    all_days = list(simulated) if simulated is not None else simulate_days(sim)
    n_train = days - held_out
    n_units = max(int(d.unit.max()) for d in all_days) + 1
    model = None
    if with_model:
        model = _train_model(seed, start, n_train, volume, threads)
    else:
        policies = [p for p in policies if p not in ("seed", "tuned")]
    fitted = fit_floors(all_days[:n_train], n_units, model)
    if model is not None and "tuned" in policies:
        fit_first_price(all_days[:n_train], fitted, model, config, n_units, seed)
    run_days = all_days[n_train - 1 :]  # warm-up on the last training day, then held out
    results = {}
    for name in policies:
        if progress is not None:
            progress(f"seed {seed}: {name}")
        results[name] = run_policy(name, run_days, held_out, fitted, model, config, n_units, seed)
    fixed = BidderConfig(responsive=False)
    fixed_results = {
        name: run_policy(name, run_days, held_out, fitted, model, fixed, n_units, seed)
        for name in fixed_reference
        if name in policies
    }
    return SeedRun(seed, [d.day for d in all_days[n_train:]], fitted, results, fixed_results)


def _train_model(seed: int, start: date, days: int, volume: float, threads: int) -> Any:
    from ssmas.exchange import simulate_to_lake
    from ssmas.pricing.model.training import train_from_lake

    with tempfile.TemporaryDirectory(prefix="ssmas-floors-") as tmp:
        lake = Path(tmp) / "lake"
        simulate_to_lake(SimulationConfig(start, days, volume, seed=seed), lake)
        end = start + timedelta(days=days - 1)
        return train_from_lake(lake, start, end, threads=threads, seed=0).model


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval across independent (seed, day) pairs."""
    arr = np.asarray(values, dtype=np.float64)
    mean = float(arr.mean())
    if arr.size < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, arr.size - 1) * arr.std(ddof=1) / np.sqrt(arr.size))
    return mean, mean - half, mean + half


def summarise(runs: Sequence[SeedRun], candidate: str = "tuned") -> dict[str, Any]:
    """Uplifts over the per-unit static baseline across every (seed, held-out day) pair."""

    def pairs(name: str, attr: str) -> list[tuple[float, float]]:
        return [
            (getattr(p, attr), getattr(b, attr))
            for run in runs
            for p, b in zip(run.results[name], run.results[BASELINE], strict=True)
        ]

    def pairs_of(run: SeedRun) -> list[tuple[PolicyDay, PolicyDay]]:
        return list(zip(run.results[candidate], run.results[BASELINE], strict=True))

    def uplift(name: str, attr: str = "revenue_eur") -> list[float]:
        return [100.0 * (p / b - 1.0) for p, b in pairs(name, attr) if b > 0]

    policies: dict[str, Any] = {}
    for name in runs[0].results:
        mean, low, high = mean_ci(uplift(name))
        first = mean_ci(uplift(name, "revenue_first_eur"))
        days = [d for run in runs for d in run.results[name]]
        policies[name] = {
            "uplift_vs_per_unit_pct": round(mean, 2),
            "uplift_ci95_pct": [round(low, 2), round(high, 2)],
            "first_price_uplift_pct": round(first[0], 2),
            "first_price_uplift_ci95_pct": [round(first[1], 2), round(first[2], 2)],
            "second_price_uplift_pct": round(mean_ci(uplift(name, "revenue_second_eur"))[0], 2),
            "revenue_eur": round(float(np.mean([d.revenue_eur for d in days])), 2),
            "fill_rate": round(float(np.mean([d.fill_rate for d in days])), 4),
            "bidder_surplus_eur": round(float(np.mean([d.surplus_eur for d in days])), 2),
            "mean_floor_eur": round(float(np.mean([d.mean_floor for d in days])), 3),
        }
    chosen = policies[candidate]
    base = policies[BASELINE]
    per_seed = [
        float(np.mean([100.0 * (p.revenue_eur / b.revenue_eur - 1.0) for p, b in pairs_of(run)]))
        for run in runs
    ]
    _, seed_low, seed_high = mean_ci(per_seed)
    fixed = [
        100.0 * (p.revenue_eur / b.revenue_eur - 1.0)
        for run in runs
        if candidate in run.fixed_results and BASELINE in run.fixed_results
        for p, b in zip(run.fixed_results[candidate], run.fixed_results[BASELINE], strict=True)
    ]
    return {
        "pair_uplifts_pct": [round(u, 2) for u in uplift(candidate)],
        "seed_uplifts_pct": [round(u, 2) for u in per_seed],
        "seed_level_ci95_pct": [round(seed_low, 2), round(seed_high, 2)],
        "fixed_bidders_uplift_pct": round(float(np.mean(fixed)), 2) if fixed else None,
        "pairs": sum(len(run.results[BASELINE]) for run in runs),
        "candidate": candidate,
        "floor_uplift_vs_best_static_per_unit_pct": chosen["uplift_vs_per_unit_pct"],
        "floor_uplift_per_unit_ci_low_pct": chosen["uplift_ci95_pct"][0],
        "first_price_uplift_pct": chosen["first_price_uplift_pct"],
        "first_price_uplift_ci95_pct": chosen["first_price_uplift_ci95_pct"],
        "second_price_uplift_pct": chosen["second_price_uplift_pct"],
        "fill_rate_drop_pts": round(100.0 * (base["fill_rate"] - chosen["fill_rate"]), 2),
        "policies": policies,
    }
