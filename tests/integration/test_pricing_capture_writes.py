"""Capture writes in bounded transactions: other writers get SQLite's lock between them, and a
failure part way keeps what was committed (SQLite and PostgreSQL, for real)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ssmas.core.db import make_engine, upgrade
from ssmas.core.metrics import REGISTRY
from ssmas.pricing.serving import store
from ssmas.pricing.serving.capture import CaptureWriter

from .pricing_support import serving_engine, serving_row

NOW = datetime.now(UTC).replace(microsecond=0)


def _decision(i: int) -> dict[str, Any]:
    return serving_row(store.floor_decisions, NOW, i)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    yield from serving_engine(request, tmp_path)


def test_a_backlog_is_written_in_several_transactions(engine: sa.Engine) -> None:
    commits: list[int] = []
    rows = [_decision(i) for i in range(1_050)]
    written = store.insert_rows(
        engine, store.floor_decisions, rows, chunk=100, tx_budget_s=0.0, gap_s=0.0,
        on_commit=commits.append,
    )  # fmt: skip
    # A zero budget commits after every chunk: the last one holds the 50 left over.
    assert commits == [100] * 10 + [50]
    assert written == sum(commits) == store.count_rows(engine, store.floor_decisions) == 1_050


def test_the_default_budget_writes_a_small_batch_in_one_transaction(engine: sa.Engine) -> None:
    commits: list[int] = []
    store.insert_rows(engine, store.floor_decisions, [_decision(i) for i in range(300)],
                      on_commit=commits.append)  # fmt: skip
    assert commits == [300]


def test_another_writer_gets_the_sqlite_lock_between_transactions(tmp_path: Path) -> None:
    """While a backlog is written, a second connection that refuses to wait at all (busy
    timeout 0) can still write each time a transaction has committed: the lock is not held
    from the first row of the backlog to the last."""
    path = tmp_path / "lock.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0.0, isolation_level=None)
    landed: list[int] = []

    def write_elsewhere(n: int) -> None:
        other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if the lock is held
        key = f"k{len(landed)}"
        other.execute("INSERT INTO api_keys (name, prefix, secret_hash, scopes, created_at) "
                      "VALUES (?, ?, 'x', '[]', '2026-01-01')", (key, key))  # fmt: skip
        other.execute("COMMIT")
        landed.append(n)

    try:
        store.insert_rows(engine, store.floor_decisions, [_decision(i) for i in range(500)],
                          chunk=100, tx_budget_s=0.0, on_commit=write_elsewhere)  # fmt: skip
        assert landed == [100] * 5
        assert other.execute("SELECT count(*) FROM api_keys").fetchone() == (5,)
        assert store.count_rows(engine, store.floor_decisions) == 500
    finally:
        other.close()
        engine.dispose()


def _dropped() -> float:
    return REGISTRY.get_sample_value("ssmas_pricing_capture_dropped_total") or 0.0


def _written(table: str) -> float:
    value = REGISTRY.get_sample_value("ssmas_pricing_capture_rows_total", {"table": table})
    return value or 0.0


def test_a_failure_part_way_keeps_the_committed_rows_and_counts_only_the_rest(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commit after every 100-row chunk; row 250 has no impression id (NOT NULL), so the third
    # transaction fails after two have committed.
    monkeypatch.setattr(store, "TX_BUDGET_S", 0.0)
    rows = [_decision(i) for i in range(400)]
    rows[250] = {**rows[250], "impression_id": None}
    errors: list[Exception] = []
    writer = CaptureWriter(engine, on_error=errors.append)
    dropped, written = _dropped(), _written("pricing_floor_decisions")
    assert writer.add_many(store.floor_decisions, rows) == 400
    assert writer.flush() == 200
    assert len(errors) == 1 and isinstance(errors[0], sa.exc.IntegrityError)
    assert writer.failed_batches == 1
    assert store.count_rows(engine, store.floor_decisions) == 200
    assert _written("pricing_floor_decisions") - written == 200
    assert _dropped() - dropped == 200
