"""How good a CPM model is: streaming error metrics, interval coverage and honest baselines.

Baselines are computed in DuckDB on the training rows and scored on the test rows, so they
scale to the 50M-row day: the global mean, and per-segment means for several segmentations
(unseen segments fall back to the global mean). The **best** segment baseline is the one with
the lowest *test* RMSE: choosing it on the test day favours the baseline, never the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import numpy.typing as npt

# Segment keys as SQL expressions over lake columns.
SEGMENTATIONS: dict[str, tuple[str, ...]] = {
    "publisher_format_tier_device": ("publisher_id", "format", "country_tier", "device_category"),
    "unit_tier_device": ("ad_unit_id", "country_tier", "device_category"),
    "unit_tier_device_daypart": (
        "ad_unit_id",
        "country_tier",
        "device_category",
        "hour_of_day // 6",
    ),
}


def regression_metrics(y: npt.ArrayLike, pred: npt.ArrayLike) -> dict[str, float]:
    """RMSE, MAE and R² of predictions against outcomes."""
    yt = np.asarray(y, dtype=np.float64)
    yp = np.asarray(pred, dtype=np.float64)
    err = yt - yp
    sst = float(np.sum((yt - yt.mean()) ** 2)) if yt.size else 0.0
    return {
        "rmse": float(np.sqrt(np.mean(err**2))) if yt.size else math.nan,
        "mae": float(np.mean(np.abs(err))) if yt.size else math.nan,
        "r2": 1.0 - float(np.sum(err**2)) / sst if sst > 0 else math.nan,
    }


@dataclass
class ErrorAccumulator:
    """RMSE, MAE, R² and interval coverage summed over batches of predictions."""

    n: int = 0
    sum_sq: float = 0.0
    sum_abs: float = 0.0
    sum_y: float = 0.0
    sum_y2: float = 0.0
    covered: int = 0
    width: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def update(
        self,
        y: npt.ArrayLike,
        point: npt.ArrayLike,
        lower: npt.ArrayLike | None = None,
        upper: npt.ArrayLike | None = None,
    ) -> None:
        yt = np.asarray(y, dtype=np.float64)
        err = yt - np.asarray(point, dtype=np.float64)
        self.n += int(yt.size)
        self.sum_sq += float(np.dot(err, err))
        self.sum_abs += float(np.abs(err).sum())
        self.sum_y += float(yt.sum())
        self.sum_y2 += float(np.dot(yt, yt))
        if lower is not None and upper is not None:
            lo, hi = np.asarray(lower), np.asarray(upper)
            self.covered += int(np.count_nonzero((yt >= lo) & (yt <= hi)))
            self.width += float((hi - lo).sum())

    def metrics(self, prefix: str = "") -> dict[str, float]:
        if self.n == 0:
            return {}
        mean = self.sum_y / self.n
        sst = self.sum_y2 - self.n * mean * mean
        out = {
            "rmse": math.sqrt(self.sum_sq / self.n),
            "mae": self.sum_abs / self.n,
            "r2": 1.0 - self.sum_sq / sst if sst > 0 else math.nan,
            "rows": float(self.n),
        }
        if self.width > 0:
            out["interval80_coverage"] = self.covered / self.n
            out["interval80_mean_width"] = self.width / self.n
        return {f"{prefix}{k}": v for k, v in out.items()}


def _one(con: duckdb.DuckDBPyConnection, query: str) -> tuple[float | None, ...]:
    row = con.execute(query).fetchone()
    if row is None:
        raise ValueError(f"no result for {query[:80]!r}")
    return tuple(None if v is None else float(v) for v in row)


def baseline_metrics(
    con: duckdb.DuckDBPyConnection,
    train: str,
    test: str,
    *,
    target: str = "clearing_cpm",
    segmentations: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, dict[str, float]]:
    """Test RMSE / MAE / R² of the global mean and of each segment-mean baseline.

    ``train`` and ``test`` are FROM clauses (a table, a view or a parenthesised subquery)
    holding the filled rows of each split.
    """
    (mean,) = _one(con, f"SELECT AVG({target}) FROM {train}")
    if mean is None:
        raise ValueError("no training rows for the baselines")
    results = {"global_mean": _score(con, f"SELECT {target} AS y, {mean!r} AS m FROM {test}")}
    for name, keys in (segmentations or SEGMENTATIONS).items():
        aliases = [f"k{i}" for i in range(len(keys))]
        using = ", ".join(aliases)
        select = ", ".join(f"{expr} AS {alias}" for expr, alias in zip(keys, aliases, strict=True))
        query = (
            f"WITH seg AS (SELECT {select}, AVG({target}) AS m FROM {train} GROUP BY ALL), "
            f"t AS (SELECT {select}, {target} AS y FROM {test}) "
            f"SELECT y, COALESCE(m, {mean!r}) AS m FROM t LEFT JOIN seg USING ({using})"
        )
        results[name] = _score(con, query)
        (segments,) = _one(con, f"SELECT COUNT(*) FROM (SELECT DISTINCT {select} FROM {train})")
        results[name]["segments"] = float(segments or 0)
    return results


def _score(con: duckdb.DuckDBPyConnection, pairs: str) -> dict[str, float]:
    rmse, mae, var, n = _one(
        con,
        f"SELECT SQRT(AVG(POWER(y - m, 2))), AVG(ABS(y - m)), VAR_POP(y), COUNT(*) FROM ({pairs})",
    )
    if not n:
        raise ValueError("no test rows for the baselines")
    assert rmse is not None and mae is not None
    r2 = 1.0 - rmse * rmse / var if var else math.nan
    return {"rmse": rmse, "mae": mae, "r2": r2, "rows": n}


def best_segment(baselines: dict[str, dict[str, float]]) -> tuple[str, dict[str, float]]:
    """The segment baseline with the lowest test RMSE."""
    segments = {k: v for k, v in baselines.items() if k != "global_mean"}
    if not segments:
        raise ValueError("no segment baselines")
    name = min(segments, key=lambda k: segments[k]["rmse"])
    return name, segments[name]
