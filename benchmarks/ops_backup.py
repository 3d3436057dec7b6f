"""Ops figures (issue 18, backup and DR): the DR drill on >= 1 GB of state, SQLite and PostgreSQL.

Per backend, a data directory is filled with the state a platform accumulates: the database
(migrated to head, plus a bulk table of events), a data lake of Parquet files (the exchange's
batch simulation for one part, bulk random columns for the rest, which compress as little as
real bid logs do) and model files. Then:

1. the ops product's backup worker (``run_backup_loop``) runs on its schedule every
   ``--interval`` s, after one initial backup, while a writer keeps inserting rows;
2. at a random moment after two scheduled rounds, the disaster: the worker and the writer stop;
3. ``drill`` restores the newest complete backup into a fresh data directory (and, for
   PostgreSQL, a fresh database), checks the manifest's checksums, ``PRAGMA integrity_check``,
   row counts per table against the backup's record and the alembic revision at head.

- ``rto_s`` / ``pg_rto_s``: from the disaster to a restored, checked copy (target <= 60);
- ``rpo_s`` / ``pg_rpo_s``: age of the newest complete backup at the disaster (target <= 60);
- ``rpo_bound_s`` / ``pg_rpo_bound_s``: the worst RPO the schedule allows, the interval plus the
  slowest scheduled round (a disaster just before a round completes);
- ``backup_state_gb`` / ``pg_backup_state_gb``: the state backed up; ``*_backup_full_s`` and
  ``*_backup_incremental_s``: the first backup and the slowest scheduled one (unchanged files
  are hard-linked, so a scheduled round costs about the database's copy).

    .venv/bin/python benchmarks/ops_backup.py [--quick] [--gb 1.1] [--interval 30]

The full run merges its figures into ``results/ops.json``; ``--quick`` (about 60 MB) writes
``results/ops_backup.quick.json``.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks._report import merge_figures, write_result  # noqa: E402

NAME = "ops_backup"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MB = 1 << 20


def fill_lake(data_dir: Path, megabytes: float) -> None:
    """The exchange's batch simulation (one small run) and bulk Parquet parts up to the size."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ssmas.exchange import SimulationConfig, simulate_to_lake

    lake = data_dir / "lake"
    config = SimulationConfig(
        start=date(2026, 1, 5), days=1, impressions_per_day=2_000_000, seed=7, hours=2
    )
    simulate_to_lake(config, lake / "exchange")
    rng = np.random.default_rng(7)
    part, written = 0, sum(f.stat().st_size for f in lake.rglob("*") if f.is_file())
    while written < megabytes * MB:
        rows = 500_000
        table = pa.table(
            {
                "ts": np.arange(part * rows, (part + 1) * rows, dtype=np.int64),
                "bid": rng.random(rows),
                "floor": rng.random(rows),
                "user": rng.integers(0, 1 << 62, rows),
            }
        )
        path = lake / "bids" / f"day={part // 10}" / f"part-{part:04d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="snappy")
        written += path.stat().st_size
        part += 1


def fill_models(data_dir: Path, megabytes: float) -> None:
    models = data_dir / "models" / "pricing" / "v1"
    models.mkdir(parents=True)
    rng = random.Random(7)
    for i in range(max(1, int(megabytes // 25))):
        (models / f"booster-{i}.bin").write_bytes(rng.randbytes(int(min(megabytes, 25) * MB)))


def fill_sqlite(path: Path, megabytes: float) -> None:
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE bench_events (id INTEGER PRIMARY KEY, ts REAL, body BLOB)")
    rows = int(megabytes * MB / 600)
    for start in range(0, rows, 50_000):
        batch = [(time.time(), rng.randbytes(560)) for _ in range(min(50_000, rows - start))]
        conn.executemany("INSERT INTO bench_events (ts, body) VALUES (?, ?)", batch)
        conn.commit()
    conn.close()


def fill_postgres(url: str, megabytes: float) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    rows = int(megabytes * MB / 600)
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE bench_events (id bigserial PRIMARY KEY, ts float, body bytea)")
        )
        conn.execute(
            sa.text(
                "INSERT INTO bench_events (ts, body) SELECT g, "
                "decode(repeat(md5(g::text) || md5((g + 1)::text), 9), 'hex') "
                "FROM generate_series(1, :n) g"
            ),
            {"n": rows},
        )
    engine.dispose()


def writer(settings: Any, stop: threading.Event, counter: list[int]) -> None:
    """Load while the backups run: a row every few milliseconds."""
    import sqlalchemy as sa

    engine = sa.create_engine(settings.resolved_database_url)
    while not stop.is_set():
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO bench_events (ts, body) VALUES (:ts, :b)"),
                {"ts": time.time(), "b": b"x" * 64},
            )
        counter[0] += 1
        stop.wait(0.005)
    engine.dispose()


def state_bytes(data_dir: Path, pg_url: str | None) -> int:
    size = sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file())
    if pg_url:
        import sqlalchemy as sa

        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            size += int(
                conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
            )
        engine.dispose()
    return size


def run_backend(
    backend: str, gb: float, interval: float, rng: random.Random, say: Any
) -> dict[str, Any]:
    import sqlalchemy as sa

    from ssmas.core.db import head_revision, upgrade
    from ssmas.ops.backup import store_for
    from ssmas.ops.backup.archive import Backup, drill
    from ssmas.ops.backup.crypto import generate_key
    from ssmas.ops.backup.worker import backup_once, run_backup_loop
    from ssmas.settings import OpsSettings, Settings

    scratch = Path(tempfile.mkdtemp(prefix=f"ssmas-bench-{backend}-"))
    pg_db = f"ssmas_bench_{uuid.uuid4().hex[:8]}" if backend == "postgresql" else None
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT") if pg_db else None
    try:
        url = None
        if pg_db and admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{pg_db}"'))
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_db}"
        settings = Settings(
            profile="test",
            data_dir=scratch / "data",
            database_url=url,
            ops=OpsSettings(
                backup_dir=scratch / "backups",
                backup_key=generate_key(),
                backup_interval_s=interval,
                backup_keep=5,
            ),
        )
        settings.ensure_dirs()
        total = gb * 1024
        db_mb, model_mb = total * 0.3, total * 0.08
        say(f"{backend}: filling {total:.0f} MB of state")
        upgrade(settings.resolved_database_url)
        if url:
            fill_postgres(url, db_mb)
        else:
            fill_sqlite(settings.data_dir / "ssmas.db", db_mb)
        fill_models(settings.data_dir, model_mb)
        # the lake tops the state up to the size asked (the database's size on disk varies)
        fill_lake(settings.data_dir, total - state_bytes(settings.data_dir, url) / MB)
        state = state_bytes(settings.data_dir, url)
        say(f"{backend}: {state / MB:.0f} MB of state; first backup")
        started = time.monotonic()
        backup_once(settings)
        full_s = time.monotonic() - started

        stop_worker, stop_writer = threading.Event(), threading.Event()
        rows = [0]
        platform = SimpleNamespace(settings=settings)
        worker = threading.Thread(target=run_backup_loop, args=(platform, stop_worker))
        load = threading.Thread(target=writer, args=(settings, stop_writer, rows))
        worker.start()
        load.start()
        # the disaster strikes at a random moment after the second scheduled round is due
        disaster_after = 2 * interval + rng.uniform(0, interval)
        say(
            f"{backend}: scheduled backups every {interval:g} s; disaster in {disaster_after:.0f} s"
        )
        time.sleep(disaster_after)
        disaster = time.time()
        stop_writer.set()
        stop_worker.set()
        load.join()
        worker.join()  # a round in progress completes after the disaster: not used below
        store = store_for(settings)
        usable: list[Backup] = [b for b in store.backups() if b.created_ts <= disaster]
        for late in store.backups():
            if late.created_ts > disaster:
                shutil.rmtree(late.path)
        rounds = [b.manifest["duration_s"] for b in usable[1:]]
        say(f"{backend}: drill from backup {usable[-1].id}")
        report = drill(
            store,
            into=scratch / "restored",
            head=head_revision(),
            postgres_admin_url=url,
            disaster_ts=disaster,
        )
        return {
            "rto_s": report.rto_s,
            "rpo_s": report.rpo_s,
            "ok": report.ok,
            "checks": report.checks,
            "problems": report.problems,
            "state_gb": round(state / 1024**3, 3),
            "restored_gb": round(report.bytes / 1024**3, 3),
            "rows": report.rows,
            "rows_written_under_load": rows[0],
            "full_s": round(full_s, 2),
            "incremental_s": round(max(rounds), 2) if rounds else None,
            "scheduled_rounds": len(rounds),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if admin is not None and pg_db:
            with admin.connect() as conn:
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                    ),
                    {"n": pg_db},
                )
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_db}"'))
            admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 60 MB, short schedule")
    parser.add_argument("--gb", type=float, default=1.1, help="state per backend, GB")
    parser.add_argument("--interval", type=float, default=30.0, help="backup schedule, s")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    args = parser.parse_args()
    gb = 0.06 if args.quick else args.gb
    interval = 3.0 if args.quick else args.interval

    from rich.console import Console
    from rich.table import Table

    logging.disable(logging.INFO)
    console = Console(stderr=True)
    rng = random.Random(18)
    results: dict[str, dict[str, Any]] = {}
    backends = [args.only] if args.only else ["sqlite", "postgresql"]
    with console.status("DR drill") as status:
        for backend in backends:
            results[backend] = run_backend(
                backend, gb, interval, rng, lambda text: status.update(text)
            )
            console.log(f"{backend}: done")

    table = Table(title=f"DR drill (scheduled backups every {interval:g} s)")
    for column in ("backend", "state GB", "RTO s", "RPO s", "full backup s", "round s", "ok"):
        table.add_column(column)
    for backend, r in results.items():
        table.add_row(
            backend,
            f"{r['state_gb']:.2f}",
            f"{r['rto_s']:.1f}",
            f"{r['rpo_s']:.1f}",
            f"{r['full_s']:.1f}",
            str(r["incremental_s"]),
            str(r["ok"]),
        )
    Console().print(table)

    figures: dict[str, Any] = {}
    for backend, r in results.items():
        prefix = "" if backend == "sqlite" else "pg_"
        figures |= {
            f"{prefix}rto_s": r["rto_s"],
            f"{prefix}rpo_s": r["rpo_s"],
            f"{prefix}dr_integrity_ok": r["ok"],
            f"{prefix}dr_checks": r["checks"],
            f"{prefix}backup_state_gb": r["state_gb"],
            f"{prefix}backup_full_s": r["full_s"],
            f"{prefix}backup_incremental_s": r["incremental_s"],
            # the worst RPO the schedule allows: a disaster just before a round completes
            f"{prefix}rpo_bound_s": round(interval + (r["incremental_s"] or r["full_s"]), 2),
            f"{prefix}dr_rows_written_under_load": r["rows_written_under_load"],
        }
    figures["backup_interval_s"] = interval
    for key, value in figures.items():
        print(f"{key} {value}")
    notes = (
        f"DR drill per backend on {gb:g} GB of state (30% database, 8% models, the rest a "
        "Parquet lake), scheduled backups every "
        f"{interval:g} s under a writer, disaster at a random moment after two rounds; RTO from "
        "the drill's start to a restored, checked copy; RPO the newest complete backup's age."
    )
    if args.quick:
        write_result(NAME, figures, notes, quick=True)
    else:
        merge_figures("ops", figures, NAME)
    failed = [b for b, r in results.items() if not r["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
