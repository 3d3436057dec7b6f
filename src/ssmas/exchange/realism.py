"""Realism checks of the simulated market against real data and against auction theory.

* ``ks_vs_reference``: two-sample Kolmogorov-Smirnov distance between clearing prices and a real
  price sample (iPinYou), both rescaled to mean one, so only the shape is compared.
* ``floor_sweep``: fill rate and revenue when one uniform floor replaces every ad unit's floor,
  replayed on the same bids (fill must fall; revenue must rise, then fall).
* ``seasonality``: mean requests and RPM by hour of day and by day of week.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import stats

from ssmas.exchange.auction import run_auctions

IPINYOU_PRICE_COLUMN = 1  # tab-separated: click, winning price, predicted CTR, exchange


def load_reference_prices(path: Path) -> np.ndarray:
    """Winning prices of a tab-separated iPinYou file (second column), zeros dropped."""
    if not path.exists():
        raise FileNotFoundError(f"reference price file not found: {path}")
    prices = np.loadtxt(path, usecols=IPINYOU_PRICE_COLUMN, dtype=np.float64)
    return np.asarray(prices[prices > 0])


def mean_scaled(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.asarray(values / values.mean())


def ks_vs_reference(clearing: np.ndarray, reference: np.ndarray) -> float:
    """KS distance between mean-rescaled simulated clearing prices and reference prices."""
    clearing = np.asarray(clearing, dtype=np.float64)
    clearing = clearing[clearing > 0]
    if clearing.size == 0 or reference.size == 0:
        raise ValueError("both samples need positive prices")
    result = stats.ks_2samp(mean_scaled(clearing), mean_scaled(reference))
    return float(result.statistic)


def filled_prices(impressions: pa.Table) -> np.ndarray:
    filled = impressions.column("filled").to_numpy(zero_copy_only=False)
    prices = impressions.column("clearing_cpm").to_numpy()
    return np.asarray(prices[filled])


@dataclass(frozen=True)
class SweepPoint:
    floor: float
    fill_rate: float
    revenue_eur: float


def floor_sweep(impressions: pa.Table, floors: Sequence[float]) -> list[SweepPoint]:
    """Fill rate and revenue of the auctioned impressions under each uniform floor."""
    status = impressions.column("status").to_numpy(zero_copy_only=False)
    auctioned = impressions.filter(pa.array(status == "ok"))
    points = []
    for floor in floors:
        outcome = run_auctions(auctioned, float(floor))
        points.append(SweepPoint(float(floor), outcome.fill_rate, outcome.revenue_eur))
    return points


def seasonality(metrics: pa.Table) -> dict[str, Any]:
    """Exchange-level requests and RPM averaged by hour of day and by day of week (1 = Monday)."""
    exchange = metrics.filter(pa.compute.equal(metrics.column("entity_type"), "exchange"))
    ts = exchange.column("ts").to_pandas()
    requests = exchange.column("requests").to_numpy().astype(np.float64)
    revenue = exchange.column("revenue_eur").to_numpy()
    hours = ts.dt.hour.to_numpy()
    dows = ts.dt.dayofweek.to_numpy() + 1

    def profile(keys: np.ndarray, size: int, offset: int) -> dict[str, list[float]]:
        idx = keys - offset
        count = np.bincount(idx, minlength=size)
        req = np.bincount(idx, weights=requests, minlength=size)
        rev = np.bincount(idx, weights=revenue, minlength=size)
        per_minute = np.divide(req, count, out=np.zeros(size), where=count > 0)
        rpm = np.divide(rev * 1000.0, req, out=np.zeros(size), where=req > 0)
        return {"requests_per_minute": per_minute.tolist(), "rpm": rpm.tolist()}

    return {"by_hour": profile(hours, 24, 0), "by_weekday": profile(dows, 7, 1)}
