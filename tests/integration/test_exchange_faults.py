"""Every fault scenario leaves its signature in the lake's metrics and its label beside the data."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from ssmas.exchange import lake
from ssmas.exchange.faults import Fault, entities_of, make_fault
from ssmas.exchange.simulate import SimulationConfig, _world, simulate_to_lake

DAY = date(2024, 10, 22)
FIRST = datetime(2024, 10, 22, 8, 30, tzinfo=UTC)
WORLD, _, _ = _world(42, 40)
PARTNERS = entities_of(WORLD, "partner")
UNITS = entities_of(WORLD, "ad_unit")
PUBLISHERS = WORLD.publisher_ids()
PLAN: list[tuple[str, str, int]] = [  # kind, entity, minutes; one every 30 minutes from 08:30
    ("partner_outage", PARTNERS[0], 20),
    ("partner_latency_spike", PARTNERS[1], 20),
    ("floor_too_high", UNITS[0], 20),
    ("ad_unit_misconfiguration", UNITS[1], 20),
    ("invalid_traffic_surge", PUBLISHERS[0], 20),
    ("cache_collapse", "exchange", 20),
    ("capacity_saturation", "exchange", 20),
    ("rpm_decay", PUBLISHERS[1], 60),
]
FAULTS: dict[str, Fault] = {
    kind: make_fault(WORLD, kind, start=FIRST + timedelta(minutes=30 * i), minutes=m, entity=e)
    for i, (kind, e, m) in enumerate(PLAN)
}


@pytest.fixture(scope="module")
def faulty_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faulty")
    config = SimulationConfig(
        start=DAY,
        days=1,
        impressions_per_day=1_000_000,
        seed=42,
        faults=tuple(FAULTS.values()),
        start_hour=8,
        hours=6,
    )
    simulate_to_lake(config, root)
    return root


@pytest.fixture(scope="module")
def con(faulty_lake: Path) -> duckdb.DuckDBPyConnection:
    return lake.connect(faulty_lake)


def _window(con: duckdb.DuckDBPyConnection, sql: str, start: datetime, end: datetime) -> float:
    row = con.execute(sql, [start, end]).fetchone()
    assert row is not None and row[0] is not None
    return float(row[0])


def metric(entity_type: str, entity: str, name: str) -> Callable[..., float]:
    def read(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> float:
        sql = (
            f"SELECT AVG({name}) FROM minute_metrics WHERE entity_type = '{entity_type}' "
            f"AND entity_id = '{entity}' AND ts >= ? AND ts < ?"
        )
        return _window(con, sql, start, end)

    return read


def unit_fill(unit: str) -> Callable[..., float]:
    def read(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> float:
        sql = (
            "SELECT AVG(CAST(filled AS DOUBLE)) FROM raw_impressions "
            f"WHERE ad_unit_id = '{unit}' AND ts >= ? AND ts < ?"
        )
        return _window(con, sql, start, end)

    return read


# kind -> [(metric reader, check(fault window value, 10-minute baseline before it))]
SIGNATURES: dict[str, list[tuple[Callable[..., float], Callable[[float, float], bool]]]] = {
    "partner_outage": [
        (metric("partner", PARTNERS[0], "error_rate"), lambda f, b: f > 0.9 and b < 0.05),
        (metric("exchange", "exchange", "bid_latency_ms"), lambda f, b: f > 1.2 * b),
    ],
    "partner_latency_spike": [
        (metric("partner", PARTNERS[1], "timeout_rate"), lambda f, b: f > 0.5 and b < 0.1),
        (metric("partner", PARTNERS[1], "bid_latency_ms"), lambda f, b: f > 1.5 * b),
    ],
    "floor_too_high": [(unit_fill(UNITS[0]), lambda f, b: f < 0.3 * b)],
    "ad_unit_misconfiguration": [(unit_fill(UNITS[1]), lambda f, b: f < 0.2 * b)],
    "invalid_traffic_surge": [
        (metric("publisher", PUBLISHERS[0], "requests"), lambda f, b: f > 2.0 * b),
        (metric("publisher", PUBLISHERS[0], "fill_rate"), lambda f, b: f < 0.7 * b),
        (metric("publisher", PUBLISHERS[0], "rpm"), lambda f, b: f < 0.7 * b),
    ],
    "cache_collapse": [
        (metric("exchange", "exchange", "cache_hit_rate"), lambda f, b: f < 0.2 and b > 0.8),
        (metric("exchange", "exchange", "rpm"), lambda f, b: f < 0.95 * b),
    ],
    "capacity_saturation": [
        (metric("exchange", "exchange", "error_rate"), lambda f, b: f > 0.2 and b < 0.01),
        (metric("exchange", "exchange", "bid_latency_ms"), lambda f, b: f > 1.2 * b),
    ],
    "rpm_decay": [(metric("publisher", PUBLISHERS[1], "rpm"), lambda f, b: f < 0.7 * b)],
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_signature_in_metrics(kind: str, con: duckdb.DuckDBPyConnection) -> None:
    fault = FAULTS[kind]
    baseline = (fault.start - timedelta(minutes=10), fault.start)
    # Decay is gradual: judge its last third; the others from their second minute on.
    if kind == "rpm_decay":
        window = (fault.end - (fault.end - fault.start) / 3, fault.end)
    else:
        window = (fault.start + timedelta(minutes=1), fault.end)
    for read, check in SIGNATURES[kind]:
        before, during = read(con, *baseline), read(con, *window)
        assert check(during, before), (kind, before, during)
    if kind == "rpm_decay":
        early = metric("publisher", PUBLISHERS[1], "rpm")(
            con, fault.start, fault.start + timedelta(minutes=20)
        )
        assert early > metric("publisher", PUBLISHERS[1], "rpm")(con, *window)


def test_raw_records_show_the_config_faults(con: duckdb.DuckDBPyConnection) -> None:
    misconfigured = FAULTS["ad_unit_misconfiguration"]
    sizes = con.execute(
        "SELECT DISTINCT CAST(ad_size AS VARCHAR) FROM raw_impressions "
        "WHERE ad_unit_id = ? AND ts >= ? AND ts < ?",
        [UNITS[1], misconfigured.start, misconfigured.end],
    ).fetchall()
    assert sizes == [("1x1",)]
    surge = FAULTS["invalid_traffic_surge"]
    outside = con.execute(
        "SELECT COUNT(*) FROM raw_impressions WHERE traffic_source = 'bot_network' "
        "AND (ts < ? OR ts >= ?)",
        [surge.start, surge.end],
    ).fetchone()
    assert outside == (0,)


def test_labels_on_disk(faulty_lake: Path) -> None:
    labels = json.loads((faulty_lake / "labels" / "faults.json").read_text())
    assert [label["type"] for label in labels] == [kind for kind, _, _ in PLAN]
    for label in labels:
        fault = FAULTS[label["type"]]
        assert label["entity"] == fault.entity
        assert datetime.fromisoformat(label["start"]) == fault.start
        assert datetime.fromisoformat(label["end"]) == fault.end
        assert label["signature"]
    table = pq.read_table(faulty_lake / "labels" / "faults.parquet")
    assert table.num_rows == len(PLAN)
    history = json.loads((faulty_lake / "labels" / "control_plane.json").read_text())
    injected = [v for v in history if v["actor"] == "fault-injector"]
    assert len(injected) == 4  # two configuration faults, each written and reverted
