"""Helpers for the pricing tests: a small simulated lake, a drifted day, a ready MLflow database,
rows and databases for the serving tables.

Lakes and the MLflow template are built once per test session (module-level cache) and copied
into each test's directory, so tests pay the simulation and MLflow's schema migration once.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from ssmas.core.db import make_engine, upgrade
from ssmas.core.registry import ModelRegistry, registry_from_settings
from ssmas.exchange import SimulationConfig, simulate_to_lake
from ssmas.exchange import lake as lake_layout
from ssmas.pricing.serving import store
from ssmas.settings import Settings

START = date(2026, 3, 2)  # a Monday
CLEAN_DAYS = 3
PER_DAY = 8_000
DRIFT_DAY = date(2026, 3, 7)  # a Saturday
_cache: dict[str, Path] = {}


def clean_lake(base: Path) -> Path:
    """Three simulated days (Mon-Wed, 8k requests a day), built once per session."""
    if "lake" not in _cache:
        root = base / "pricing-lake"
        simulate_to_lake(SimulationConfig(START, CLEAN_DAYS, PER_DAY, seed=7), root)
        _cache["lake"] = root
    return _cache["lake"]


def copy_lake(base: Path, dest: Path) -> Path:
    shutil.copytree(clean_lake(base), dest)
    return dest


def write_drifted_day(
    lake: Path, *, source: date = START + timedelta(days=2), price_factor: float = 1.5
) -> date:
    """Copy ``source`` to :data:`DRIFT_DAY` with a shifted audience and 1.5x prices.

    New domains, tier-3 desktop traffic, video remnant inventory, disengaged users and a
    weekend day: the feature distributions move far from training (drift WARNING), and the
    price relation moves with them (the old model is wrong on it).
    """
    shift = DRIFT_DAY - source
    for path in sorted(lake_layout.day_dir(lake, lake_layout.RAW, source).glob("hour=*/*.parquet")):
        table = pq.read_table(path)
        n = table.num_rows
        columns = {name: table.column(name) for name in table.column_names}
        ts = table.column("ts").cast(pa.int64()).to_numpy() + shift.days * 86_400_000
        columns["ts"] = pa.array(ts, pa.int64()).cast(table.schema.field("ts").type)
        columns["day_of_week"] = pa.array(np.full(n, 6, dtype=np.int8))
        domain = pc.binary_join_element_wise(
            "drift-", pc.cast(table.column("domain"), pa.string()), ""
        )
        columns["domain"] = domain.dictionary_encode()
        columns["country_tier"] = pa.array(np.full(n, 3, dtype=np.int8))
        for name, value in (("device_category", "desktop"), ("format", "video"),
                            ("inventory_type", "remnant")):  # fmt: skip
            columns[name] = pa.array([value] * n).dictionary_encode()
        for name, factor in (("user_engagement_score", 0.2), ("historical_ctr_avg", 0.1),
                             ("device_performance_score", 0.3)):  # fmt: skip
            columns[name] = pc.multiply(table.column(name), pa.scalar(factor, pa.float32()))
        for name in PRICE_COLUMNS:
            columns[name] = pc.multiply(table.column(name), pa.scalar(price_factor, pa.float32()))
        hour = path.parent.name
        out = lake_layout.day_dir(lake, lake_layout.RAW, DRIFT_DAY) / hour / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), out)
    return DRIFT_DAY


PRICE_COLUMNS = ("top_bid_cpm", "second_bid_cpm", "clearing_cpm", "floor_cpm")


def write_next_day(
    lake: Path, *, source: date = START + timedelta(days=2), price_factor: float = 1.0
) -> date:
    """Copy ``source`` to the next day (its own weekday) with every price times
    ``price_factor`` and every other feature unchanged: unchanged traffic on a new weekday, or
    a pure price-level shift."""
    target = source + timedelta(days=1)
    for path in sorted(lake_layout.day_dir(lake, lake_layout.RAW, source).glob("hour=*/*.parquet")):
        table = pq.read_table(path)
        columns = {name: table.column(name) for name in table.column_names}
        ts = table.column("ts").cast(pa.int64()).to_numpy() + 86_400_000
        columns["ts"] = pa.array(ts, pa.int64()).cast(table.schema.field("ts").type)
        dow = table.column("day_of_week").to_numpy() % 7 + 1
        columns["day_of_week"] = pa.array(dow.astype(np.int8))
        for name in PRICE_COLUMNS:
            columns[name] = pc.multiply(table.column(name), pa.scalar(price_factor, pa.float32()))
        out = lake_layout.day_dir(lake, lake_layout.RAW, target) / path.parent.name / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), out)
    return target


def admin_key(settings: Settings, scopes: tuple[str, ...] = ("pricing:admin",)) -> str:
    """A raw API key in ``settings``' database (the actor of approved promotions)."""
    from ssmas.core.platform import build_platform
    from ssmas.core.security.keys import create_api_key

    platform = build_platform(settings)
    try:
        with platform.session_factory() as session:
            raw, _ = create_api_key(session, "ops", scopes)
            session.commit()
    finally:
        platform.close()
    return raw


def mlflow_template(base: Path) -> Path:
    """A data directory whose MLflow database is already migrated (built once)."""
    if "mlflow" not in _cache:
        root = base / "mlflow-template"
        registry = registry_from_settings(Settings(profile="test", data_dir=root))
        registry.list_versions("warm-up")
        _cache["mlflow"] = root
    return _cache["mlflow"]


def fresh_registry(base: Path, settings: Settings) -> ModelRegistry:
    """An empty registry in ``settings.data_dir``, from the migrated template."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mlflow_template(base) / "mlflow.db", settings.data_dir / "mlflow.db")
    return registry_from_settings(settings)


# -- the serving tables ----------------------------------------------------------------------

SERVING_TABLES = (store.captures, store.floor_decisions, store.outcomes, store.drift_reports)


def serving_row(table: sa.Table, at: datetime, i: int) -> dict[str, Any]:
    """A valid row of the serving table ``table`` stamped ``at`` (impression ``imp-<at>-<i>``)."""
    imp = f"imp-{at:%Y%m%d%H%M%S}-{i}"
    if table is store.captures:
        return {
            "captured_at": at,
            "impression_id": imp,
            "variant": "champion",
            "model_version": "1",
            "fallback": False,
            "request": {"impression_id": imp},
            "predicted_cpm": 1.0,
            "lower": 0.5,
            "upper": 1.5,
            "latency_ms": 0.2,
        }
    if table is store.floor_decisions:
        return {
            "decided_at": at,
            "impression_id": imp,
            "publisher_id": "pub-1",
            "floor": 0.4,
            "reason": "dynamic",
            "predicted_cpm": 1.0,
            "model_version": "1",
            "variant": "champion",
            "fallback": False,
            "control": False,
        }
    if table is store.outcomes:
        return {
            "received_at": at,
            "impression_id": imp,
            "variant": "champion",
            "model_version": "1",
            "predicted_cpm": 1.0,
            "clearing_cpm": 1.2,
            "filled": True,
            "revenue_eur": 0.0012,
        }
    return {
        "computed_at": at,
        "window_start": at - timedelta(hours=1),
        "window_end": at,
        "model_version": "1",
        "n_rows": 100,
        "score": 0.1,
        "level": "OK",
        "report": {"features": []},
    }


def clear_serving_tables(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in SERVING_TABLES:
            conn.execute(table.delete())


def serving_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The body of a fixture parametrised ``["sqlite", "postgresql"]``: a migrated database with
    empty serving tables (the PostgreSQL one is shared by the session's tests, so it is cleared
    before and after)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'serving.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    engine = make_engine(url)
    clear_serving_tables(engine)
    yield engine
    clear_serving_tables(engine)
    engine.dispose()


def floorsim_report(**changes: Any) -> Any:
    """A small floor-simulation report (three policies, a static curve); ``changes`` override."""
    from dataclasses import replace

    from ssmas.pricing.floors.simulation import FloorSimReport, PolicyResult

    report = FloorSimReport(
        held_out_day=date(2026, 3, 5),
        training_days=[date(2026, 3, 2)],
        auctions=12345,
        model_version="3",
        static_floor=0.8,
        tuned_basis="point",
        tuned_k=0.9,
        policies={
            "none": PolicyResult("none", "no floor", 100.0, 0.9, 8.1, 0.0),
            "static": PolicyResult("static", "0.80 EUR", 110.0, 0.85, 8.9, 0.8, 0.0),
            "seed": PolicyResult(
                "seed", "seed formula", 118.0, 0.84, 9.5, 1.2, 7.27, (3.1, 11.0), -1.0
            ),
        },
        static_curve=[(0.0, 100.0), (0.8, 110.0), (2.0, 90.0)],
    )
    return replace(report, **changes)
