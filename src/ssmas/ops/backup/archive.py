"""Backups of the platform's state: create, list, verify, restore, retention, DR drill.

A backup is a folder ``<backup_dir>/<id>/`` holding ``manifest.json`` and ``blobs/``, every
blob encrypted (:mod:`ssmas.ops.backup.crypto`). The manifest lists each blob with its
plaintext's and its own SHA-256, the database's alembic revision and row count per table, and
is signed (HMAC-SHA256 with a key derived from the backup key); a backup is written in a
hidden folder and renamed into place when whole, so a listed backup is always complete.

What is saved:

- the database: SQLite through the online backup API (a consistent copy while the platform
  writes), PostgreSQL with ``pg_dump -Fc`` in the snapshot the row counts were read in;
- the bus when it is the SQLite file (online backup API). A Redis bus is not saved: its streams
  are transient hand-offs whose producers' state lives in the database, and Redis persistence
  (RDB/AOF) is its own backup; the manifest says so;
- the MLflow tracking and registry database (SQLite, online backup API) and every other file of
  the data directory: the data lake's Parquet files, model artifacts, the secret key file.

A file unchanged since the newest backup (same size and mtime) is hard-linked from it rather
than encrypted again, so a scheduled backup of a large, mostly immutable lake costs the
database's copy; deleting an old backup (retention) deletes only its own links.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ssmas.ops.backup.crypto import BackupKey, CryptoError, decrypt_file, encrypt_file

__all__ = [
    "Backup",
    "BackupError",
    "BackupStore",
    "DrillReport",
    "WrongKeyError",
    "drill",
    "restore",
]

MANIFEST = "manifest.json"
FORMAT = 1
_SQLITE_SIDE = ("-wal", "-shm", "-journal", ".migrate.lock")


class BackupError(RuntimeError):
    """A backup that cannot be made, found, verified or restored (one-line message)."""


class WrongKeyError(BackupError):
    """The backup was made with another key."""


@dataclass(frozen=True)
class Source:
    """What to back up: the data directory and where its databases live."""

    data_dir: Path
    database_url: str
    bus_path: Path | None
    mlflow_path: Path | None
    exclude: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any, exclude: tuple[Path, ...] = ()) -> Source:
        bus = None
        if settings.bus_backend == "sqlite":
            bus = Path(settings.resolved_bus_url)
        mlflow = _sqlite_path(settings.resolved_mlflow_uri)
        return cls(
            data_dir=Path(settings.data_dir),
            database_url=settings.resolved_database_url,
            bus_path=bus,
            mlflow_path=mlflow,
            exclude=exclude,
        )

    @property
    def is_postgres(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "postgresql"

    @property
    def database_path(self) -> Path | None:
        return None if self.is_postgres else _sqlite_path(self.database_url)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as the libpq URL pg_dump and pg_restore take."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@dataclass
class Backup:
    """One backup's manifest, read from its folder."""

    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    @property
    def created_ts(self) -> float:
        return float(self.manifest["created_ts"])

    @property
    def size(self) -> int:
        return sum(int(e["size"]) for e in self.manifest["entries"])

    @property
    def entries(self) -> list[dict[str, Any]]:
        return list(self.manifest["entries"])


def _canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite file through the online backup API."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # one step: a writer between steps would restart the copy
        finally:
            dst.close()
    finally:
        src.close()


def sqlite_facts(path: Path) -> tuple[dict[str, int], str | None, str]:
    """Row count per table, alembic revision and ``PRAGMA integrity_check`` of a SQLite file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        revision = None
        if "alembic_version" in names:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            revision = ",".join(sorted(r[0] for r in rows)) or None
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return counts, revision, str(check)


def postgres_facts(conn: sa.Connection) -> tuple[dict[str, int], str | None]:
    """Row count per table of the public schema and the alembic revision."""
    names = [
        r[0]
        for r in conn.execute(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename"
            )
        )
    ]
    counts = {
        n: int(conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names
    }
    revision = None
    if "alembic_version" in names:
        rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).fetchall()
        revision = ",".join(sorted(str(r[0]) for r in rows)) or None
    return counts, revision


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {detail[-1] if detail else done.returncode}")


class BackupStore:
    """The backups in one folder, made and read with one key."""

    def __init__(self, root: Path, key: BackupKey) -> None:
        self.root = Path(root)
        self.key = key

    # ---- reading -------------------------------------------------------------------------
    def backups(self) -> list[Backup]:
        """Every complete backup, oldest first (unreadable manifests are skipped)."""
        found = []
        if not self.root.is_dir():
            return []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
                continue
            try:
                manifest = json.loads((folder / MANIFEST).read_text())
                found.append(Backup(folder, manifest))
            except (OSError, ValueError):
                continue
        found.sort(key=lambda b: (b.created_ts, b.id))
        return found

    def get(self, backup_id: str | None) -> Backup:
        """The backup named ``backup_id``, or the newest with ``None``."""
        backups = self.backups()
        if not backups:
            raise BackupError(f"no backup in {self.root}")
        if backup_id is None:
            return backups[-1]
        for b in backups:
            if b.id == backup_id:
                return b
        raise BackupError(f"no backup {backup_id!r} in {self.root}")

    def check_manifest(self, backup: Backup) -> None:
        """The manifest is signed by this key: ``WrongKeyError`` or ``BackupError`` otherwise."""
        made_with = backup.manifest.get("key_id")
        if made_with != self.key.key_id:
            raise WrongKeyError(
                f"backup {backup.id} was made with another key (key id {made_with}, "
                f"this key is {self.key.key_id}): set SSMAS_OPS_BACKUP_KEY to the key it used"
            )
        if backup.manifest.get("mac") != self.key.sign(_canonical(backup.manifest)):
            raise BackupError(f"backup {backup.id}: manifest signature mismatch (tampered)")

    def verify(self, backup: Backup, *, deep: bool = True) -> int:
        """Check the signature and every blob's SHA-256; ``deep`` also decrypts each blob and
        checks its plaintext's. Returns the bytes checked; ``BackupError`` names the first fault."""
        self.check_manifest(backup)
        checked = 0
        with tempfile.TemporaryDirectory(dir=self.root) as scratch:
            for entry in backup.entries:
                blob = backup.path / entry["blob"]
                if not blob.is_file():
                    raise BackupError(f"backup {backup.id}: {entry['name']} is missing")
                if _sha256(blob) != entry["blob_sha256"]:
                    raise BackupError(f"backup {backup.id}: {entry['name']} checksum mismatch")
                if deep:
                    out = Path(scratch) / "plain"
                    try:
                        _, digest = decrypt_file(self.key, blob, out)
                    except CryptoError as exc:
                        raise BackupError(f"backup {backup.id}: {exc}") from None
                    out.unlink()
                    if digest != entry["sha256"]:
                        raise BackupError(
                            f"backup {backup.id}: {entry['name']} content checksum mismatch"
                        )
                checked += int(entry["size"])
        return checked

    # ---- writing -------------------------------------------------------------------------
    def create(self, source: Source) -> Backup:
        """A new backup of ``source`` (see the module docstring)."""
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        previous = self._reusable()
        now = datetime.now(UTC)
        backup_id = now.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + uuid.uuid4().hex[:6]
        draft = self.root / f".draft-{backup_id}"
        (draft / "blobs").mkdir(parents=True)
        entries: list[dict[str, Any]] = []
        notes: list[str] = []
        database: dict[str, Any] = {}
        counter = iter(range(1, 1 << 30))

        def add(role: str, name: str, plain: Path, extra: dict[str, Any] | None = None) -> None:
            blob = f"blobs/{next(counter):06d}"
            size, digest, blob_digest = encrypt_file(self.key, plain, draft / blob)
            entries.append(
                {
                    "role": role,
                    "name": name,
                    "blob": blob,
                    "size": size,
                    "sha256": digest,
                    "blob_sha256": blob_digest,
                    **(extra or {}),
                }
            )

        try:
            with tempfile.TemporaryDirectory(dir=self.root, prefix=".work-") as scratch:
                work = Path(scratch)
                snapshot_ts = time.time()
                if source.is_postgres:
                    dump = work / "database.pgdump"
                    database = self._pg_dump(source.database_url, dump)
                    add("database", "database.pgdump", dump, {"kind": "pg_dump"})
                else:
                    path = source.database_path
                    if path is None or not path.is_file():
                        raise BackupError(f"no SQLite database at {path}")
                    copy = work / "database.sqlite"
                    _sqlite_copy(path, copy)
                    counts, revision, _ = sqlite_facts(copy)
                    database = {"backend": "sqlite", "tables": counts, "revision": revision}
                    add("database", _relative(path, source.data_dir), copy, {"kind": "sqlite"})
                for role, path in (("bus", source.bus_path), ("mlflow", source.mlflow_path)):
                    if path is None:
                        if role == "bus":
                            notes.append(
                                "bus on Redis: not backed up (transient streams; producers' "
                                "state is in the database; Redis RDB/AOF is its own backup)"
                            )
                        continue
                    if not path.is_file():
                        notes.append(f"{role}: no file at {path.name} yet")
                        continue
                    copy = work / f"{role}.sqlite"
                    _sqlite_copy(path, copy)
                    counts, _, _ = sqlite_facts(copy)
                    add(
                        role,
                        _relative(path, source.data_dir),
                        copy,
                        {"kind": "sqlite", "tables": counts},
                    )
                    copy.unlink()
                skip = {p.resolve() for p in source.exclude} | {self.root.resolve()}
                for p in (source.database_path, source.bus_path, source.mlflow_path):
                    if p is not None:
                        skip |= {Path(str(p) + s).resolve() for s in ("", *_SQLITE_SIDE)}
                for file in _walk(source.data_dir, skip):
                    name = file.relative_to(source.data_dir).as_posix()
                    stat = file.stat()
                    old = previous.get(name)
                    if (
                        old
                        and old[0]["size"] == stat.st_size
                        and old[0]["mtime_ns"] == stat.st_mtime_ns
                    ):
                        blob = f"blobs/{next(counter):06d}"
                        os.link(old[1] / old[0]["blob"], draft / blob)
                        entries.append({**old[0], "blob": blob})
                        continue
                    add("file", name, file, {"kind": "file", "mtime_ns": stat.st_mtime_ns})
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "id": backup_id,
                "created_at": datetime.fromtimestamp(snapshot_ts, UTC).isoformat(),
                "created_ts": snapshot_ts,
                "key_id": self.key.key_id,
                "database": database,
                "entries": entries,
                "notes": notes,
                "duration_s": round(time.monotonic() - started, 3),
            }
            manifest["mac"] = self.key.sign(_canonical(manifest))
            (draft / MANIFEST).write_text(json.dumps(manifest, indent=1))
            final = self.root / backup_id
            draft.rename(final)
        except BaseException:
            shutil.rmtree(draft, ignore_errors=True)
            raise
        return Backup(final, manifest)

    def _reusable(self) -> dict[str, tuple[dict[str, Any], Path]]:
        """The newest backup's file entries made with this key, by name (hard-link reuse)."""
        for backup in reversed(self.backups()):
            try:
                self.check_manifest(backup)
            except BackupError:
                continue
            return {
                e["name"]: (e, backup.path)
                for e in backup.entries
                if e.get("kind") == "file" and (backup.path / e["blob"]).is_file()
            }
        return {}

    def _pg_dump(self, url: str, target: Path) -> dict[str, Any]:
        engine = sa.create_engine(url, isolation_level="REPEATABLE READ")
        try:
            with engine.connect() as conn:
                # The counts and the dump read one snapshot: pg_dump joins the exported one.
                snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
                counts, revision = postgres_facts(conn)
                _run(
                    [
                        "pg_dump",
                        "-Fc",
                        "-Z",
                        "1",
                        f"--snapshot={snapshot}",
                        "-f",
                        str(target),
                        "--dbname",
                        libpq_url(url),
                    ],
                    "pg_dump",
                )
                conn.rollback()
        except sa.exc.SQLAlchemyError as exc:
            raise BackupError(f"PostgreSQL: {str(exc).splitlines()[0]}") from None
        finally:
            engine.dispose()
        return {"backend": "postgresql", "tables": counts, "revision": revision}

    def prune(self, *, keep: int, keep_days: float | None = None) -> list[str]:
        """Delete backups beyond the newest ``keep`` and older than ``keep_days`` (the newest
        is always kept); returns the ids deleted."""
        backups = self.backups()
        doomed = []
        now = time.time()
        for index, backup in enumerate(reversed(backups)):
            if index == 0:
                continue
            too_many = index >= keep
            too_old = keep_days is not None and now - backup.created_ts > keep_days * 86400
            if too_many or too_old:
                doomed.append(backup)
        for backup in doomed:
            shutil.rmtree(backup.path)
        for stale in self.root.glob(".draft-*"):
            if now - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
        return [b.id for b in doomed]


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _walk(root: Path, skip: set[Path]) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in skip)
        for name in sorted(filenames):
            path = here / name
            if path.resolve() not in skip and path.is_file() and not path.is_symlink():
                yield path


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class RestoreReport:
    backup_id: str
    bytes: int
    seconds: float
    database: str
    files: int


def restore(store: BackupStore, backup: Backup, target: Source) -> RestoreReport:
    """Write ``backup`` into ``target``: the database (a SQLite file, or ``pg_restore`` into
    the PostgreSQL database, replacing its objects), the bus and MLflow files, every other
    file under the data directory. Every blob's plaintext SHA-256 is checked as it is written;
    a file is renamed into place only when whole."""
    started = time.monotonic()
    store.check_manifest(backup)
    target.data_dir.mkdir(parents=True, exist_ok=True)
    written = files = 0
    database = ""
    with tempfile.TemporaryDirectory(dir=target.data_dir, prefix=".restore-") as scratch:
        for entry in backup.entries:
            blob = backup.path / entry["blob"]
            if not blob.is_file():
                raise BackupError(f"backup {backup.id}: {entry['name']} is missing")
            if entry["role"] == "database" and entry["kind"] == "pg_dump":
                if not target.is_postgres:
                    raise BackupError(
                        "this backup holds a PostgreSQL database: set SSMAS_DATABASE_URL to one"
                    )
                dest = Path(scratch) / "database.pgdump"
            elif entry["role"] == "database":
                if target.is_postgres or target.database_path is None:
                    raise BackupError("this backup holds a SQLite database: restore to SQLite")
                dest = target.database_path
            elif entry["role"] == "bus":
                if target.bus_path is None:
                    continue  # the target's bus is Redis: nothing to write
                dest = target.bus_path
            elif entry["role"] == "mlflow":
                if target.mlflow_path is None:
                    continue
                dest = target.mlflow_path
            else:
                dest = target.data_dir / entry["name"]
                if target.data_dir.resolve() not in dest.resolve().parents:
                    raise BackupError(f"backup {backup.id}: bad file name {entry['name']!r}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(f".{dest.name}.restoring")
            try:
                _, digest = decrypt_file(store.key, blob, part)
            except CryptoError as exc:
                part.unlink(missing_ok=True)
                raise BackupError(f"backup {backup.id}: {exc}") from None
            if digest != entry["sha256"]:
                part.unlink(missing_ok=True)
                raise BackupError(f"backup {backup.id}: {entry['name']} content checksum mismatch")
            if entry["kind"] == "sqlite":
                for side in _SQLITE_SIDE:
                    Path(str(dest) + side).unlink(missing_ok=True)
            part.replace(dest)
            written += int(entry["size"])
            files += 1
            if entry["role"] == "database" and entry["kind"] == "pg_dump":
                _run(
                    [
                        "pg_restore",
                        "--clean",
                        "--if-exists",
                        "--no-owner",
                        "--no-privileges",
                        "--single-transaction",
                        "--dbname",
                        libpq_url(target.database_url),
                        str(dest),
                    ],
                    "pg_restore",
                )
                database = "postgresql"
            elif entry["role"] == "database":
                database = "sqlite"
    return RestoreReport(backup.id, written, time.monotonic() - started, database, files)


@dataclass
class DrillReport:
    """What a DR drill measured: RTO (restore + checks) and RPO (age of the backup used)."""

    backup_id: str
    backend: str
    rto_s: float
    rpo_s: float
    restore_s: float
    bytes: int
    tables: int
    rows: int
    revision: str | None
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def drill(
    store: BackupStore,
    *,
    into: Path,
    head: str | None,
    postgres_admin_url: str | None = None,
    disaster_ts: float | None = None,
    keep: bool = False,
) -> DrillReport:
    """Restore the newest backup into the fresh folder ``into`` (and, for a PostgreSQL backup,
    a fresh database made on the server of ``postgres_admin_url``), then check it: manifest
    signature and checksums (during the restore), ``PRAGMA integrity_check`` of every SQLite
    file, row counts per table equal to the backup's record, alembic revision equal to ``head``.

    ``rpo_s`` is the newest backup's age at the disaster (``disaster_ts``, default now),
    ``rto_s`` the time from then-on to a checked restore."""
    disaster = time.time() if disaster_ts is None else disaster_ts
    started = time.monotonic()
    backup = store.get(None)
    rpo = max(0.0, disaster - backup.created_ts)
    if into.exists() and any(into.iterdir()):
        raise BackupError(f"{into} is not empty: a drill restores into a fresh folder")
    record = backup.manifest.get("database", {})
    backend = record.get("backend", "sqlite")
    drill_db: str | None = None
    admin: sa.Engine | None = None
    if backend == "postgresql":
        if not postgres_admin_url:
            raise BackupError("the backup holds PostgreSQL: give the server's URL to drill on")
        drill_db = f"ssmas_drill_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{drill_db}"'))
        database_url = (
            make_url(postgres_admin_url)
            .set(database=drill_db)
            .render_as_string(hide_password=False)
        )
    else:
        database_url = f"sqlite:///{into / 'ssmas.db'}"
    problems: list[str] = []
    checks: dict[str, bool] = {}
    try:
        target = Source(
            data_dir=into,
            database_url=database_url,
            bus_path=into / "bus.db",
            mlflow_path=into / "mlflow.db",
        )
        # Each restored SQLite file lands where the backup found it, relative to the data dir.
        for entry in backup.entries:
            if entry["role"] == "database" and entry["kind"] == "sqlite":
                target = _with(target, database_url=f"sqlite:///{into / entry['name']}")
            elif entry["role"] == "bus":
                target = _with(target, bus_path=into / entry["name"])
            elif entry["role"] == "mlflow":
                target = _with(target, mlflow_path=into / entry["name"])
        report = restore(store, backup, target)
        checks["checksums"] = True
        for entry in backup.entries:
            if entry["kind"] != "sqlite":
                continue
            path = into / entry["name"]
            counts, revision, integrity = sqlite_facts(path)
            checks[f"integrity:{entry['name']}"] = integrity == "ok"
            if integrity != "ok":
                problems.append(f"{entry['name']}: integrity_check says {integrity}")
            expected = record.get("tables") if entry["role"] == "database" else entry.get("tables")
            if expected is not None and counts != expected:
                problems.append(f"{entry['name']}: row counts differ from the backup's record")
            if entry["role"] == "database":
                restored_counts, restored_revision = counts, revision
        if backend == "postgresql":
            engine = sa.create_engine(database_url)
            try:
                with engine.connect() as conn:
                    restored_counts, restored_revision = postgres_facts(conn)
            finally:
                engine.dispose()
            if restored_counts != record.get("tables"):
                problems.append("PostgreSQL: row counts differ from the backup's record")
        checks["row_counts"] = restored_counts == record.get("tables")
        checks["revision_at_head"] = restored_revision == head
        if restored_revision != head:
            problems.append(f"alembic revision {restored_revision} is not head {head}")
        rto = time.monotonic() - started
    except BackupError as exc:
        problems.append(str(exc))
        raise
    finally:
        if admin is not None and drill_db is not None:
            if not keep:
                with admin.connect() as conn:
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :n"
                        ),
                        {"n": drill_db},
                    )
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{drill_db}"'))
            admin.dispose()
        if not keep:
            shutil.rmtree(into, ignore_errors=True)
    return DrillReport(
        backup_id=backup.id,
        backend=backend,
        rto_s=round(rto, 3),
        rpo_s=round(rpo, 3),
        restore_s=round(report.seconds, 3),
        bytes=report.bytes,
        tables=len(restored_counts),
        rows=sum(restored_counts.values()),
        revision=restored_revision,
        checks=checks,
        problems=problems,
    )


def _with(source: Source, **changes: Any) -> Source:
    from dataclasses import replace

    return replace(source, **changes)
