"""Evaluation pieces: streaming metrics, SQL baselines, time splits, block bootstrap."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from ssmas.pricing.floors.simulation import bootstrap_ratio
from ssmas.pricing.model.dataset import LakeError, day_predicate, plan_splits
from ssmas.pricing.model.evaluation import (
    ErrorAccumulator,
    baseline_metrics,
    best_segment,
    regression_metrics,
)


def test_accumulator_over_batches_equals_one_pass() -> None:
    rng = np.random.default_rng(1)
    y = rng.lognormal(0, 0.5, 1000)
    p = y * rng.lognormal(0, 0.2, 1000)
    acc = ErrorAccumulator()
    for lo in range(0, 1000, 300):
        acc.update(
            y[lo : lo + 300], p[lo : lo + 300], p[lo : lo + 300] * 0.8, p[lo : lo + 300] * 1.2
        )
    got = acc.metrics()
    want = regression_metrics(y, p)
    for key in ("rmse", "mae", "r2"):
        assert got[key] == pytest.approx(want[key], rel=1e-9)
    covered = np.mean((y >= p * 0.8) & (y <= p * 1.2))
    assert got["interval80_coverage"] == pytest.approx(covered)
    assert ErrorAccumulator().metrics() == {}


def _rows(seg: list[str], y: list[float]) -> pa.Table:
    return pa.table(
        {
            "publisher_id": seg,
            "format": ["banner"] * len(y),
            "country_tier": [1] * len(y),
            "device_category": ["mobile"] * len(y),
            "clearing_cpm": y,
        }
    )


def test_segment_baseline_uses_training_means_and_global_fallback() -> None:
    con = duckdb.connect()
    con.register("train_rows", _rows(["a", "a", "b", "b"], [1.0, 3.0, 10.0, 14.0]))
    con.register("test_rows", _rows(["a", "b", "c"], [2.0, 12.0, 5.0]))
    segs = {"pub": ("publisher_id", "format", "country_tier", "device_category")}
    result = baseline_metrics(con, "train_rows", "test_rows", segmentations=segs)
    # Global mean 7: errors 5, 5, 2. Segment means a=2, b=12, unseen c -> 7: errors 0, 0, 2.
    assert result["global_mean"]["rmse"] == pytest.approx(np.sqrt((25 + 25 + 4) / 3))
    assert result["pub"]["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert result["pub"]["segments"] == 2
    assert best_segment(result)[0] == "pub"


def _members(predicate: str) -> list[str]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    stamps = [f"2026-03-0{d} {h:02d}:{m:02d}:00+00" for d in (2, 3, 4, 5) for h in (0, 23)
              for m in (5, 45, 55)]  # fmt: skip
    con.register("t", pa.table({"s": stamps}))
    rows = con.execute(
        "SELECT s FROM (SELECT s, CAST(s AS TIMESTAMPTZ) AS ts FROM t) "
        f"WHERE {predicate} ORDER BY s"
    ).fetchall()
    return [r[0] for r in rows]


def test_splits_by_day_and_by_block() -> None:
    days = [date(2026, 3, d) for d in (2, 3, 4, 5)]
    by_day = plan_splits(days)
    assert {s[:10] for s in _members(by_day["train"])} == {"2026-03-02", "2026-03-03"}
    assert {s[:10] for s in _members(by_day["calibration"])} == {"2026-03-04"}
    assert {s[:10] for s in _members(by_day["test"])} == {"2026-03-05"}
    blocks = plan_splits(days[:2])
    assert {s[14:16] for s in _members(blocks["train"])} == {"05"}
    assert {s[14:16] for s in _members(blocks["calibration"])} == {"45"}
    assert {s[14:16] for s in _members(blocks["test"])} == {"55"}
    assert plan_splits(days, "blocks") == blocks
    with pytest.raises(LakeError, match="at least 3"):
        plan_splits(days[:2], "days")
    # Contiguous days collapse into one range; a gap makes two.
    assert day_predicate(days).count(" OR ") == 0
    assert len(_members(day_predicate([days[0], days[2]]))) == 12


def test_block_bootstrap_interval_covers_the_true_uplift() -> None:
    rng = np.random.default_rng(4)
    blocks = np.repeat(np.arange(144), 50)
    base = rng.lognormal(0, 1, blocks.size)
    better = base * 1.05 * rng.lognormal(0, 0.05, blocks.size)
    low, high = bootstrap_ratio(blocks, better, base, n_boot=1000)
    observed = 100 * (better.sum() / base.sum() - 1)
    assert low < observed < high
    assert low > 0 and high < 12
    same_low, same_high = bootstrap_ratio(blocks, base, base, n_boot=200)
    assert same_low == pytest.approx(0.0) and same_high == pytest.approx(0.0)
