"""Revenue simulation of floor policies: replay a held-out day's auctions on the same bids.

The last day of the range is held out; the days before it are the training days. Every policy
is replayed through the exchange's own clearing (:func:`ssmas.exchange.run_auctions`)
on the logged top two bids of the held-out day, so the only thing that changes is the floor:

* ``none``: no floor;
* ``static``: the single network-wide floor that earned most on the training days;
* ``seed``: the seed's ``calculateDynamicFloor`` on the model's prediction (min 0.5, max 10);
* ``tuned``: ``clip(k x prediction, 0, 10)`` on the point or the lower 80% bound, with the
  basis and ``k`` chosen on the last training day (never on the held-out day).

Uplifts carry a 95% bootstrap interval over ten-minute blocks of the day (paired: the same
blocks for both policies). A control share of impressions (sticky hash of the impression id)
is also reported as the live exchange would see it: treated revenue per auction against the
unfloored control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ssmas.exchange import run_auctions
from ssmas.pricing.floors.formula import (
    SEED_MAX_FLOOR,
    PublisherFloorConfig,
    control_mask,
    dynamic_floors,
)
from ssmas.pricing.model.bundle import PricingModel
from ssmas.pricing.model.dataset import AUCTION_COLUMNS, REQUEST_COLUMNS, LakeError, LakeReader
from ssmas.pricing.model.dataset import day_predicate as days_sql

STATIC_GRID = np.round(np.arange(0.0, 5.0001, 0.05), 2)
K_GRID = np.round(np.arange(0.3, 1.5001, 0.05), 2)
BLOCK_MS = 10 * 60 * 1000
FloatArray = npt.NDArray[np.float64]
REPLAY_COLUMNS = (*REQUEST_COLUMNS, *AUCTION_COLUMNS)


@dataclass
class PolicyResult:
    """One floor policy on the held-out day."""

    name: str
    rule: str
    revenue_eur: float
    fill_rate: float
    rpm_eur: float  # revenue per 1000 auctions
    mean_floor: float
    uplift_vs_static_pct: float | None = None
    uplift_ci95_pct: tuple[float, float] | None = None
    fill_change_vs_static_pts: float | None = None


@dataclass
class ControlSplit:
    """Treated impressions against the unfloored control share, within one policy."""

    policy: str
    share: float
    treated_rpm_eur: float
    control_rpm_eur: float
    lift_pct: float
    lift_ci95_pct: tuple[float, float]


@dataclass
class FloorSimReport:
    """Everything the table, the plot and the JSON show."""

    held_out_day: date
    training_days: list[date]
    auctions: int
    model_version: str
    static_floor: float
    tuned_basis: str
    tuned_k: float
    policies: dict[str, PolicyResult]
    control: list[ControlSplit] = field(default_factory=list)
    static_curve: list[tuple[float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["held_out_day"] = self.held_out_day.isoformat()
        body["training_days"] = [d.isoformat() for d in self.training_days]
        return body


def revenue_by_static_floor(
    reader: LakeReader, days: list[date], grid: npt.ArrayLike = STATIC_GRID
) -> list[tuple[float, float]]:
    """Revenue (EUR) of each uniform floor of ``grid`` over the auctions of ``days`` (SQL)."""
    values = ", ".join(f"({float(f)!r})" for f in np.asarray(grid))
    rows = reader.con.execute(
        f"WITH grid(f) AS (VALUES {values}) "
        "SELECT f, SUM(CASE WHEN top_bid_cpm > 0 AND top_bid_cpm >= f THEN "
        "  CASE WHEN auction_type = 'first_price' THEN top_bid_cpm "
        "  ELSE GREATEST(second_bid_cpm, f) END ELSE 0 END) / 1000.0 "
        f"FROM impressions, grid WHERE {days_sql(days)} GROUP BY f ORDER BY f"
    ).fetchall()
    return [(float(f), float(r or 0.0)) for f, r in rows]


def _replay(table: pa.Table, floors: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    outcome = run_auctions(table, np.asarray(floors, dtype=np.float64))
    return outcome.clearing_cpm.astype(np.float64) / 1000.0, outcome.filled


def tune_k(model: PricingModel, day: pa.Table) -> tuple[str, float, float]:
    """(basis, k, revenue) of the best ``clip(k x basis)`` floor on one training day."""
    point, lower, _ = model.predict_frame(day)
    best = ("point", 1.0, -1.0)
    for basis, values in (("point", point), ("lower80", lower)):
        for k in K_GRID:
            revenue = float(_replay(day, np.clip(k * values, 0.0, SEED_MAX_FLOOR))[0].sum())
            if revenue > best[2]:
                best = (basis, float(k), revenue)
    return best


def seed_floors(model: PricingModel, day: pa.Table, point: FloatArray) -> FloatArray:
    """The seed's dynamic floor for every impression of ``day``."""
    inventory = day.column("inventory_type").to_numpy(zero_copy_only=False)
    return dynamic_floors(
        point,
        data_points=model.encoder.domain_counts(day),
        hour_of_day=day.column("hour_of_day").to_numpy(),
        is_premium=np.asarray(inventory == "premium"),
        config=PublisherFloorConfig(),
    )


def block_ids(day: pa.Table) -> npt.NDArray[np.intp]:
    """Ten-minute block index of each row (0 = the first block of the day present)."""
    ts = day.column("ts")
    ms = ts.cast(pa.timestamp("ms", tz=ts.type.tz)).cast(pa.int64()).to_numpy()
    blocks = ms // BLOCK_MS
    return np.asarray(blocks - blocks.min(), dtype=np.intp)


def bootstrap_ratio(
    blocks: npt.NDArray[np.intp],
    numerator: FloatArray,
    denominator: FloatArray,
    *,
    num_weight: FloatArray | None = None,
    den_weight: FloatArray | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% interval of ``sum(num)/sum(den) - 1`` (in %) resampling whole blocks, paired.

    With weights, each side is a mean: ``sum(x) / sum(weight)`` (revenue per auction).
    """
    n_blocks = int(blocks.max()) + 1
    num = np.bincount(blocks, weights=numerator, minlength=n_blocks)
    den = np.bincount(blocks, weights=denominator, minlength=n_blocks)
    nw = (
        np.bincount(blocks, weights=num_weight, minlength=n_blocks)
        if num_weight is not None
        else None
    )
    dw = (
        np.bincount(blocks, weights=den_weight, minlength=n_blocks)
        if den_weight is not None
        else None
    )
    rng = np.random.default_rng(seed)
    # How often each block is drawn when resampling n_blocks blocks with replacement.
    counts = rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=n_boot)
    a, b = counts @ num, counts @ den
    if nw is not None and dw is not None:
        a, b = a / np.maximum(counts @ nw, 1e-12), b / np.maximum(counts @ dw, 1e-12)
    ratios = 100.0 * (a / np.maximum(b, 1e-12) - 1.0)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def simulate_floors(
    lake: Path,
    start: date,
    end: date,
    model: PricingModel,
    *,
    control_share: float = 0.1,
    n_boot: int = 2000,
    seed: int = 0,
    threads: int = 2,
) -> FloorSimReport:
    """Replay the last day of ``[start, end]`` under each floor policy (see module docstring)."""
    if not 0.0 <= control_share < 1.0:
        raise ValueError(f"control share must be in [0, 1), got {control_share}")
    reader = LakeReader(lake, start, end, threads=threads)
    try:
        if len(reader.days) < 2:
            raise LakeError("floor simulation needs at least two days: training days + held-out")
        held_out, training = reader.days[-1], reader.days[:-1]
        curve = revenue_by_static_floor(reader, training)
        static_floor = max(curve, key=lambda p: p[1])[0]
        cols = ", ".join(REPLAY_COLUMNS)
        tune_day = reader.con.execute(
            f"SELECT {cols} FROM impressions WHERE {days_sql(training[-1:])}"
        ).to_arrow_table()
        basis, k, _ = tune_k(model, tune_day)
        del tune_day
        day = reader.con.execute(
            f"SELECT {cols} FROM impressions WHERE {days_sql([held_out])} ORDER BY ts"
        ).to_arrow_table()
    finally:
        reader.close()
    point, lower, _ = model.predict_frame(day)
    tuned_basis = point if basis == "point" else lower
    floors = {
        "none": (np.zeros(day.num_rows), "no floor"),
        "static": (np.full(day.num_rows, static_floor), f"{static_floor:.2f} EUR everywhere"),
        "seed": (seed_floors(model, day, point), "seed formula on the prediction"),
        "tuned": (
            np.clip(k * tuned_basis, 0.0, SEED_MAX_FLOOR),
            f"clip({k:.2f} x {basis}, 0, 10)",
        ),
    }
    blocks = block_ids(day)
    revenue: dict[str, FloatArray] = {}
    policies: dict[str, PolicyResult] = {}
    fills: dict[str, float] = {}
    for name, (f, rule) in floors.items():
        rev, filled = _replay(day, f)
        revenue[name] = rev
        fills[name] = float(filled.mean())
        policies[name] = PolicyResult(
            name=name,
            rule=rule,
            revenue_eur=float(rev.sum()),
            fill_rate=fills[name],
            rpm_eur=float(rev.sum() / max(day.num_rows, 1) * 1000.0),
            mean_floor=float(np.mean(f)),
        )
    base = policies["static"]
    for name, result in policies.items():
        if name == "static":
            continue
        result.uplift_vs_static_pct = 100.0 * (result.revenue_eur / base.revenue_eur - 1.0)
        result.uplift_ci95_pct = bootstrap_ratio(
            blocks, revenue[name], revenue["static"], n_boot=n_boot, seed=seed
        )
        result.fill_change_vs_static_pts = 100.0 * (result.fill_rate - base.fill_rate)
    report = FloorSimReport(
        held_out_day=held_out,
        training_days=list(training),
        auctions=day.num_rows,
        model_version=model.version,
        static_floor=static_floor,
        tuned_basis=basis,
        tuned_k=k,
        policies=policies,
        static_curve=curve,
    )
    if control_share > 0.0:
        ids = day.column("impression_id").to_pylist()
        in_control = control_mask(ids, control_share).astype(np.float64)
        for name in ("seed", "tuned"):
            report.control.append(
                _control_split(name, control_share, blocks, in_control, revenue, n_boot, seed)
            )
    return report


def _control_split(
    name: str,
    share: float,
    blocks: npt.NDArray[np.intp],
    in_control: FloatArray,
    revenue: Mapping[str, FloatArray],
    n_boot: int,
    seed: int,
) -> ControlSplit:
    treated = 1.0 - in_control
    # Treated rows earn the policy's revenue, control rows the unfloored one.
    num, den = revenue[name] * treated, revenue["none"] * in_control
    treated_rpm = float(num.sum() / max(treated.sum(), 1.0) * 1000.0)
    control_rpm = float(den.sum() / max(in_control.sum(), 1.0) * 1000.0)
    ci = bootstrap_ratio(
        blocks, num, den, num_weight=treated, den_weight=in_control, n_boot=n_boot, seed=seed
    )
    lift = 100.0 * (treated_rpm / control_rpm - 1.0) if control_rpm > 0 else float("nan")
    return ControlSplit(name, share, treated_rpm, control_rpm, lift, ci)
