"""The Parquet lake: byte-identical for a seed, partitioned as the seed says, read by DuckDB."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ssmas.exchange import lake
from ssmas.exchange.labels import write_labels
from ssmas.exchange.records import IMPRESSION_SCHEMA
from ssmas.exchange.simulate import (
    HourJob,
    SimulationConfig,
    _world,
    control_timeline,
    hour_starts,
    run_hour,
    simulate_to_lake,
)

DAY = date(2024, 10, 22)
# The /predict request fields every impression record must carry.
PREDICT_FIELDS = {
    "impression_id",
    "hour_of_day",
    "day_of_week",
    "country_tier",
    "device_category",
    "format",
    "inventory_type",
    "bidder",
    "demand_channel",
    "domain",
    "user_engagement_score",
    "device_performance_score",
    "historical_ctr_avg",
}


def _config(seed: int, **kw: object) -> SimulationConfig:
    base: dict[str, object] = {
        "start": DAY,
        "days": 1,
        "impressions_per_day": 150_000,
        "seed": seed,
        "start_hour": 10,
        "hours": 2,
    }
    base.update(kw)
    return SimulationConfig(**base)  # type: ignore[arg-type]


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in {".parquet", ".json"}
    }


@pytest.fixture(scope="module")
def lake_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake_a")
    simulate_to_lake(_config(7), root)
    return root


def test_same_seed_gives_byte_identical_files(lake_a: Path, tmp_path: Path) -> None:
    # Hours written in reverse order, as parallel workers may: every block has its own stream.
    config = _config(7)
    world, _, _ = _world(config.seed, config.publishers)
    versions = tuple(control_timeline(world, config).versions())
    for at in reversed(hour_starts(config)):
        run_hour(HourJob(config, at, versions, tmp_path))
    write_labels(tmp_path, world, config, versions)
    first, second = _files(lake_a), _files(tmp_path)
    assert set(first) == set(second)
    assert len([k for k in first if k.startswith("raw/")]) == 2
    for name, body in first.items():
        assert body == second[name], name


def test_a_different_seed_gives_different_data(lake_a: Path, tmp_path: Path) -> None:
    simulate_to_lake(_config(8), tmp_path)
    raw = "raw/impressions/year=2024/month=10/day=22/hour=10/part-0.parquet"
    assert (lake_a / raw).read_bytes() != (tmp_path / raw).read_bytes()


def test_partitions_and_schema(lake_a: Path) -> None:
    hours = sorted(p.name for p in (lake_a / lake.RAW / "year=2024/month=10/day=22").iterdir())
    assert hours == ["hour=10", "hour=11"]
    table = pq.read_table(lake_a / lake.RAW / "year=2024/month=10/day=22/hour=10/part-0.parquet")
    assert table.schema.equals(IMPRESSION_SCHEMA)
    assert set(table.column_names) >= PREDICT_FIELDS
    assert table.num_rows > 5000
    ids = table.column("impression_id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert set(table.column("hour_of_day").to_pylist()) == {10}
    assert set(table.column("day_of_week").to_pylist()) == {2}  # a Tuesday


def test_duckdb_views_and_hourly_aggregation(lake_a: Path) -> None:
    counts = lake.aggregate_day(lake_a, DAY)
    assert counts["daily_rows"] == 40
    con = lake.connect(lake_a)
    total, filled = con.execute(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE filled) FROM raw_impressions"
    ).fetchone() or (0, 0)
    hourly_requests, hours = con.execute(
        "SELECT SUM(requests + blocked), COUNT(DISTINCT hour) FROM hourly_stats"
    ).fetchone() or (0, 0)
    assert hourly_requests == total and hours == 2
    daily_impressions = con.execute("SELECT SUM(impressions) FROM daily_metrics").fetchone()
    assert daily_impressions is not None and daily_impressions[0] == filled
    # Unfilled impressions pay nothing; filled ones never pay below their floor.
    bad = con.execute(
        "SELECT COUNT(*) FROM raw_impressions WHERE (NOT filled AND clearing_cpm <> 0) "
        "OR (filled AND clearing_cpm < floor_cpm - 1e-6) OR (filled AND bidder IS NULL)"
    ).fetchone()
    assert bad == (0,)
    minute_rows = con.execute("SELECT COUNT(*) FROM minute_metrics").fetchone()
    assert minute_rows == (120 * (40 + 10 + 1),)  # minutes x (publishers + partners + exchange)


def test_aggregating_a_missing_day_is_a_clear_error(lake_a: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no raw impressions"):
        lake.aggregate_day(lake_a, date(2030, 1, 1))
