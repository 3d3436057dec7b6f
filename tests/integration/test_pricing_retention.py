"""Retention of the serving tables on SQLite and the real PostgreSQL: rows past the cutoff go,
chunk by chunk, newer rows stay; the runtime's pruner thread; ``ssmas pricing prune``; the
demo's bound."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ssmas.cli import app
from ssmas.core.db import make_engine, upgrade
from ssmas.core.metrics import REGISTRY
from ssmas.core.platform import Platform, build_platform
from ssmas.pricing.demo import DEMO_RETENTION_HOURS, bound_retention
from ssmas.pricing.lifecycle.monitoring import Pruner
from ssmas.pricing.serving import store
from ssmas.pricing.serving.runtime import build_serving_runtime
from ssmas.settings import PricingSettings, Settings, use_settings

from .pricing_support import SERVING_TABLES, serving_engine, serving_row

NOW = datetime.now(UTC).replace(microsecond=0)
TABLES = SERVING_TABLES


def _fill(engine: sa.Engine, table: sa.Table, stamps: list[datetime]) -> None:
    store.insert_rows(engine, table, [serving_row(table, at, i) for i, at in enumerate(stamps)])


def _stamps(engine: sa.Engine, table: sa.Table) -> list[datetime]:
    column = store.STAMPS[table.name]
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(column)).scalars())


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    yield from serving_engine(request, tmp_path)


def _old_and_new(cutoff: datetime) -> tuple[list[datetime], list[datetime]]:
    """23 stamps before ``cutoff`` (up to a month back) and 7 at or after it."""
    old = [cutoff - timedelta(seconds=1 + 3600 * i) for i in range(23)]
    new = [cutoff] + [cutoff + timedelta(minutes=5 * i) for i in range(1, 7)]
    return old, new


def test_prune_deletes_what_is_older_than_each_cutoff_in_chunks(engine: sa.Engine) -> None:
    cutoffs = {
        store.captures: NOW - timedelta(hours=2),
        store.floor_decisions: NOW - timedelta(hours=5),
        store.outcomes: NOW - timedelta(days=1),
        store.drift_reports: NOW - timedelta(days=90),
    }
    kept: dict[str, list[datetime]] = {}
    for table, cutoff in cutoffs.items():
        old, new = _old_and_new(cutoff)
        _fill(engine, table, old + new)
        kept[table.name] = new
    chunks: list[tuple[str, int]] = []

    counts = store.prune(engine, cutoffs, chunk=5, on_chunk=lambda t, n: chunks.append((t, n)))

    assert counts == {table.name: 23 for table in TABLES}
    for table in TABLES:
        assert _stamps(engine, table) == kept[table.name]  # the row at the cutoff stays
        assert [n for t, n in chunks if t == table.name] == [5, 5, 5, 5, 3]
    assert store.prune(engine, cutoffs, chunk=5) == {table.name: 0 for table in TABLES}


def test_a_chunk_that_divides_the_rows_ends_on_an_empty_delete(engine: sa.Engine) -> None:
    cutoff = NOW - timedelta(hours=1)
    _fill(engine, store.outcomes, [cutoff - timedelta(minutes=m + 1) for m in range(10)])
    chunks: list[int] = []
    counts = store.prune(
        engine, {store.outcomes: cutoff}, chunk=5, on_chunk=lambda _t, n: chunks.append(n)
    )
    assert counts == {"pricing_outcomes": 10} and chunks == [5, 5]
    assert store.count_rows(engine, store.outcomes) == 0


def test_dry_run_counts_and_deletes_nothing(engine: sa.Engine) -> None:
    cutoff = NOW - timedelta(hours=3)
    old, new = _old_and_new(cutoff)
    for table in TABLES:
        _fill(engine, table, old + new)
    cutoffs = dict.fromkeys(TABLES, cutoff)
    assert store.prune(engine, cutoffs, chunk=4, dry_run=True) == {t.name: 23 for t in TABLES}
    assert all(store.count_rows(engine, t) == 30 for t in TABLES)


def test_zero_retention_keeps_that_tables_rows_forever(engine: sa.Engine) -> None:
    ancient = [NOW - timedelta(days=400 + d) for d in range(3)]
    for table in TABLES:
        _fill(engine, table, ancient)
    forever = Pruner(engine, PricingSettings(retention_hours=0, drift_report_retention_hours=0))
    assert forever.prune() == {}
    assert all(store.count_rows(engine, t) == 3 for t in TABLES)

    reports_only = Pruner(engine, PricingSettings(retention_hours=0), pause_s=0.0)
    assert reports_only.prune() == {"pricing_drift_reports": 3}
    assert [store.count_rows(engine, t) for t in TABLES] == [3, 3, 3, 0]


def test_stop_ends_a_purge_between_chunks(engine: sa.Engine) -> None:
    import threading

    cutoff = NOW - timedelta(hours=1)
    _fill(engine, store.floor_decisions, [cutoff - timedelta(seconds=s + 1) for s in range(12)])
    stop = threading.Event()
    counts = store.prune(
        engine,
        {store.floor_decisions: cutoff, store.captures: cutoff},
        chunk=5,
        stop=stop,
        on_chunk=lambda _t, _n: stop.set(),
    )
    assert counts == {"pricing_floor_decisions": 5, "pricing_captures": 0}
    assert store.count_rows(engine, store.floor_decisions) == 7


def test_pruner_counts_deleted_rows_per_table_in_prometheus(engine: sa.Engine) -> None:
    def pruned(table: str) -> float:
        return REGISTRY.get_sample_value("ssmas_pricing_pruned_rows_total", {"table": table}) or 0

    before = {t.name: pruned(t.name) for t in TABLES}
    _fill(engine, store.captures, [NOW - timedelta(days=8)] * 7 + [NOW] * 2)
    _fill(engine, store.drift_reports, [NOW - timedelta(days=91)] * 2)
    pruner = Pruner(engine, PricingSettings(), chunk=3, pause_s=0.0, clock=lambda: NOW)

    assert pruner.prune(dry_run=True)["pricing_captures"] == 7
    assert pruned("pricing_captures") == before["pricing_captures"]  # a dry run counts nothing
    counts = pruner.prune()

    assert counts == {
        "pricing_captures": 7,
        "pricing_floor_decisions": 0,
        "pricing_outcomes": 0,
        "pricing_drift_reports": 2,
    }
    assert pruned("pricing_captures") - before["pricing_captures"] == 7
    assert pruned("pricing_drift_reports") - before["pricing_drift_reports"] == 2
    assert store.count_rows(engine, store.captures) == 2


# -- the serving runtime's thread ---------------------------------------------------------------


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    platform = build_platform(settings)
    yield platform
    platform.close()


def test_the_runtime_prunes_on_its_own_thread(platform: Platform) -> None:
    engine = platform.engine
    for table in TABLES[:3]:
        _fill(engine, table, [NOW - timedelta(hours=30)] * 4 + [NOW] * 2)
    config = PricingSettings(
        load_models=False, drift_interval_s=0, retention_hours=24, prune_interval_s=0.05
    )
    runtime = build_serving_runtime(platform, config)
    runtime.start()
    try:
        assert any(t.name == "ssmas-pricing-pruner" and t.is_alive() for t in runtime.threads)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if all(store.count_rows(engine, t) == 2 for t in TABLES[:3]):
                break
            time.sleep(0.05)
        assert [store.count_rows(engine, t) for t in TABLES[:3]] == [2, 2, 2]
    finally:
        runtime.close()
    assert not any(t.is_alive() for t in runtime.threads)


def test_no_pruner_thread_when_the_interval_is_zero(platform: Platform) -> None:
    config = PricingSettings(load_models=False, drift_interval_s=0, prune_interval_s=0)
    runtime = build_serving_runtime(platform, config)
    runtime.start()
    try:
        assert not any(t.name == "ssmas-pricing-pruner" and t.is_alive() for t in runtime.threads)
    finally:
        runtime.close()


# -- the demo's bound ---------------------------------------------------------------------------


def test_the_demo_bounds_retention_unless_it_was_configured(platform: Platform) -> None:
    runtime = build_serving_runtime(platform, PricingSettings(load_models=False))
    assert bound_retention(runtime, DEMO_RETENTION_HOURS) == 168.0  # what to put back
    assert runtime.pruner.retention_hours == DEMO_RETENTION_HOURS
    runtime.close()

    configured = build_serving_runtime(
        platform, PricingSettings(load_models=False, retention_hours=0)
    )
    assert bound_retention(configured, DEMO_RETENTION_HOURS) is None
    assert configured.pruner.retention_hours == 0.0  # keep-forever, as the operator said
    configured.close()


# -- ssmas pricing prune ------------------------------------------------------------------------


@pytest.fixture()
def data_dir(tmp_path: Path) -> Iterator[Path]:
    settings = Settings(profile="test", data_dir=tmp_path / "data", pricing=PricingSettings())
    with use_settings(settings):  # what the commands read
        yield settings.data_dir


@pytest.fixture()
def cli_db(data_dir: Path) -> Iterator[sa.Engine]:
    url = Settings(profile="test", data_dir=data_dir).resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    for table in TABLES:  # two rows past the default retention and one recent, per table
        _fill(engine, table, [NOW - timedelta(days=100)] * 2 + [NOW])
    yield engine
    engine.dispose()


def prune_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["pricing", "prune", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_dry_run_prints_counts_per_table_and_keeps_the_rows(cli_db: sa.Engine) -> None:
    code, stdout, stderr = prune_cli("--dry-run")
    assert code == 0, stderr
    for table in TABLES:
        assert table.name in stdout
    assert "would be deleted" in stdout and "8 rows would be deleted (dry run)" in stdout
    assert all(store.count_rows(cli_db, t) == 3 for t in TABLES)


def test_cli_deletes_past_the_configured_retention(cli_db: sa.Engine) -> None:
    code, stdout, stderr = prune_cli()
    assert code == 0, stderr
    assert "8 rows deleted" in stdout
    assert all(store.count_rows(cli_db, t) == 1 for t in TABLES)


def test_cli_older_than_hours_applies_to_traffic_tables(cli_db: sa.Engine, data_dir: Path) -> None:
    _fill(cli_db, store.outcomes, [NOW - timedelta(hours=30)])
    section = PricingSettings(drift_report_retention_hours=0)
    with use_settings(Settings(profile="test", data_dir=data_dir, pricing=section)):
        code, stdout, stderr = prune_cli("--older-than-hours", "24")
    assert code == 0, stderr
    assert "kept forever" in stdout and "7 rows deleted" in stdout
    assert [store.count_rows(cli_db, t) for t in TABLES] == [1, 1, 1, 3]


@pytest.mark.parametrize(
    ("args", "pricing", "message"),
    [
        (["--older-than-hours", "-1"], {}, "must be a positive number of hours"),
        (["--older-than-hours", "0"], {}, "must be a positive number of hours"),
        (["--older-than-hours", "nan"], {}, "must be a positive number of hours"),
        (["--older-than-hours", "0.5"], {}, "shorter than the drift window (1 h"),
        (
            ["--older-than-hours", "2"],
            {"drift_window_s": 10800},
            "shorter than the drift window (3 h",
        ),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    cli_db: sa.Engine, data_dir: Path, args: list[str], pricing: dict[str, float], message: str
) -> None:
    with use_settings(Settings(profile="test", data_dir=data_dir, pricing=pricing)):
        code, stdout, stderr = prune_cli(*args)
    assert code == 2, stdout
    assert stderr.startswith("error: ") and message in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1
    assert all(store.count_rows(cli_db, t) == 3 for t in TABLES)  # nothing was deleted


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.25", "keeps less than the drift window"),
        ("-3", "SSMAS_PRICING_RETENTION_HOURS: Input should be greater than or equal to 0"),
    ],
)
def test_a_bad_retention_variable_exits_2_with_one_line_naming_it(
    cli_db: sa.Engine, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("SSMAS_PRICING_RETENTION_HOURS", value)  # the operator's interface
    with use_settings(None):  # the command reads the environment
        code, stdout, stderr = prune_cli()
    assert code == 2, stdout
    assert stderr.startswith("error: invalid settings: ") and message in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1
    assert all(store.count_rows(cli_db, t) == 3 for t in TABLES)  # nothing was deleted


def test_cli_refuses_a_non_number() -> None:
    code, _stdout, stderr = prune_cli("--older-than-hours", "soon")
    assert code == 2 and "older-than-hours" in stderr
