"""Backups and the DR drill on the real SQLite and PostgreSQL: round trips, tampering, a wrong
key, retention, the scheduled worker's round."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ssmas.cli import app
from ssmas.core.db import head_revision, upgrade
from ssmas.ops.backup import backup_dir, source_for, store_for
from ssmas.ops.backup.archive import BackupError, WrongKeyError, drill, restore
from ssmas.ops.backup.crypto import generate_key
from ssmas.ops.backup.history import recent_drills
from ssmas.ops.backup.worker import backup_once
from ssmas.settings import OpsSettings, Settings, use_settings
from tests.conftest import PG_ADMIN_URL

runner = CliRunner()


def _settings(tmp_path: Path, **changes: object) -> Settings:
    settings = Settings(
        profile="test",
        data_dir=tmp_path / "data",
        ops=OpsSettings(backup_dir=tmp_path / "backups", backup_key=generate_key()),
        **changes,  # type: ignore[arg-type]
    )
    settings.ensure_dirs()
    return settings


def _seed_sqlite(settings: Settings, rows: int = 500) -> None:
    upgrade(settings.resolved_database_url)
    with sqlite3.connect(settings.data_dir / "ssmas.db") as conn:
        conn.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount REAL, note TEXT)")
        conn.executemany(
            "INSERT INTO ledger (amount, note) VALUES (?, ?)",
            [(i * 1.5, f"row {i}") for i in range(rows)],
        )
    lake = settings.data_dir / "lake" / "bids" / "day=1"
    lake.mkdir(parents=True)
    (lake / "part-0.parquet").write_bytes(bytes(range(256)) * 5000)
    with sqlite3.connect(settings.data_dir / "bus.db") as bus:
        bus.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
        bus.execute("INSERT INTO events (body) VALUES ('hello')")


def _ledger(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM ledger ORDER BY id").fetchall()


def test_sqlite_round_trip_restores_the_same_rows_and_files(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _seed_sqlite(settings)
    before = _ledger(settings.data_dir / "ssmas.db")
    lake_file = settings.data_dir / "lake" / "bids" / "day=1" / "part-0.parquet"
    lake_bytes = lake_file.read_bytes()
    store = store_for(settings)
    backup = store.create(source_for(settings))
    assert backup.manifest["database"]["tables"]["ledger"] == 500
    assert backup.manifest["database"]["revision"] == head_revision()
    assert {e["role"] for e in backup.entries} == {"database", "bus", "file"}
    # nothing of the data is in the clear in the backup
    assert all(b"row 1" not in (backup.path / e["blob"]).read_bytes() for e in backup.entries)

    # the disaster: rows deleted, the lake file corrupted, the bus gone
    with sqlite3.connect(settings.data_dir / "ssmas.db") as conn:
        conn.execute("DELETE FROM ledger WHERE id % 2 = 0")
    lake_file.write_bytes(b"garbage")
    (settings.data_dir / "bus.db").unlink()

    restore(store, store.get(None), source_for(settings))
    assert _ledger(settings.data_dir / "ssmas.db") == before
    assert lake_file.read_bytes() == lake_bytes
    with sqlite3.connect(settings.data_dir / "bus.db") as bus:
        assert bus.execute("SELECT body FROM events").fetchall() == [("hello",)]


def test_unchanged_files_are_linked_not_copied_and_retention_keeps_the_newest(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    _seed_sqlite(settings)
    store = store_for(settings)
    first = store.create(source_for(settings))
    second = store.create(source_for(settings))
    lake = next(e for e in second.entries if e["name"].endswith("part-0.parquet"))
    assert (second.path / lake["blob"]).stat().st_nlink == 2
    third = store.create(source_for(settings))
    assert [b.id for b in store.backups()] == [first.id, second.id, third.id]
    assert store.prune(keep=2) == [first.id]
    assert [b.id for b in store.backups()] == [second.id, third.id]
    store.verify(store.get(second.id))  # the linked blob survived its first backup's deletion
    # by age: everything older than the limit goes, the newest always stays
    time.sleep(0.05)
    assert store.prune(keep=10, keep_days=0.01 / 86400) == [second.id]
    assert [b.id for b in store.backups()] == [third.id]


def test_tampered_backups_are_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _seed_sqlite(settings)
    store = store_for(settings)
    backup = store.create(source_for(settings))
    store.verify(backup)
    blob = backup.path / backup.entries[0]["blob"]
    data = bytearray(blob.read_bytes())
    data[100] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="checksum mismatch"):
        store.verify(store.get(None))
    # a forger who also fixes the blob's checksum is caught by the manifest's signature
    manifest_path = backup.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["database"]["tables"]["ledger"] = 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="signature"):
        store.verify(store.get(None))


def test_cli_verify_refuses_a_tampered_backup_and_a_wrong_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _seed_sqlite(settings)
    with use_settings(settings):
        made = runner.invoke(app, ["backup", "create"])
        assert made.exit_code == 0, made.output
        ok = runner.invoke(app, ["backup", "verify"])
        assert ok.exit_code == 0 and "verified" in ok.output
        listed = runner.invoke(app, ["backup", "list", "--json"])
        assert json.loads(listed.output.splitlines()[0])["database"] == "sqlite"
    other = settings.model_copy(
        update={"ops": settings.ops.model_copy(update={"backup_key": generate_key()})}
    )
    with use_settings(other):
        wrong = runner.invoke(app, ["backup", "verify"])
        assert wrong.exit_code == 2
        lines = wrong.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "another key" in lines[0]
        assert runner.invoke(app, ["backup", "restore", "--yes"]).exit_code == 2
    with use_settings(settings):
        restored = runner.invoke(app, ["backup", "restore", "--yes"])
    assert restored.exit_code == 0, restored.output
    with sqlite3.connect(settings.data_dir / "ssmas.db") as conn:
        audit = conn.execute("SELECT action, target FROM audit_log").fetchall()
    assert ("backup.restored", store_for(settings).get(None).id) in audit
    backup = store_for(settings).get(None)
    blob = backup.path / backup.entries[-1]["blob"]
    blob.write_bytes(blob.read_bytes()[:-10])
    with use_settings(settings):
        tampered = runner.invoke(app, ["backup", "verify"])
        assert tampered.exit_code == 2 and "checksum mismatch" in tampered.output
    with pytest.raises(WrongKeyError):
        store_for(other).verify(backup)


def test_drill_and_scheduled_round_on_sqlite(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _seed_sqlite(settings)
    backup, pruned = backup_once(settings)
    assert pruned == []
    report = drill(store_for(settings), into=tmp_path / "fresh", head=head_revision())
    assert report.ok, report.problems
    assert report.backup_id == backup.id and report.backend == "sqlite"
    assert report.checks["row_counts"] and report.checks["revision_at_head"]
    assert report.checks["integrity:ssmas.db"] and report.checks["integrity:bus.db"]
    assert report.rows >= 500 and report.rto_s > 0 and report.rpo_s >= 0
    assert not (tmp_path / "fresh").exists()  # the drill cleans up after itself
    with use_settings(settings):
        result = runner.invoke(app, ["dr", "drill", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True
    # The drill is recorded for the backups page.
    [recorded] = recent_drills(backup_dir(settings), 10)
    assert recorded["backup_id"] == backup.id and recorded["ok"] is True


@pytest.fixture()
def fresh_pg() -> Iterator[str]:
    name = f"ssmas_bk_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.mark.postgres
def test_postgres_round_trip_and_drill(tmp_path: Path, fresh_pg: str) -> None:
    settings = _settings(tmp_path, database_url=fresh_pg)
    upgrade(fresh_pg)
    engine = sa.create_engine(fresh_pg)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE ledger (id serial PRIMARY KEY, amount float)"))
        conn.execute(
            sa.text("INSERT INTO ledger (amount) SELECT g * 1.5 FROM generate_series(1, 800) g")
        )
    store = store_for(settings)
    backup = store.create(source_for(settings))
    assert backup.manifest["database"]["backend"] == "postgresql"
    assert backup.manifest["database"]["tables"]["ledger"] == 800
    with engine.begin() as conn:
        before = conn.execute(sa.text("SELECT * FROM ledger ORDER BY id")).fetchall()
        conn.execute(sa.text("DELETE FROM ledger WHERE id > 100"))
        conn.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    restore(store, backup, source_for(settings))
    engine = sa.create_engine(fresh_pg)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM ledger ORDER BY id")).fetchall() == before
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert revision == head_revision()
    engine.dispose()
    report = drill(
        store, into=tmp_path / "fresh", head=head_revision(), postgres_admin_url=fresh_pg
    )
    assert report.ok, report.problems
    assert report.backend == "postgresql" and report.checks["row_counts"]
    assert report.rows >= 800


def test_the_backup_worker_runs_on_its_schedule_and_keeps_the_newest(tmp_path: Path) -> None:
    import threading
    from types import SimpleNamespace

    from ssmas.ops.backup.worker import run_backup_loop

    settings = _settings(tmp_path)
    settings = settings.model_copy(
        update={"ops": settings.ops.model_copy(update={"backup_interval_s": 0.2, "backup_keep": 2})}
    )
    _seed_sqlite(settings)
    stop = threading.Event()
    worker = threading.Thread(
        target=run_backup_loop, args=(SimpleNamespace(settings=settings), stop)
    )
    worker.start()
    store = store_for(settings)
    deadline = time.monotonic() + 30
    made: set[str] = set()
    while len(made) < 4 and time.monotonic() < deadline:
        made |= {b.id for b in store.backups()}
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert len(made) >= 4  # several scheduled rounds ran
    kept = store.backups()
    assert 1 <= len(kept) <= 2  # and the retention pruned the older ones
    store.verify(kept[-1])
