"""``ssmas backup create | list | verify | restore | key | prune`` and ``ssmas dr drill``.

A missing backup, a tampered one, a wrong key or a failed restore ends with one line and exit
code 2 (:func:`ssmas.core.cli_errors.fail`).
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from ssmas.core.cli_errors import fail, first_line

if TYPE_CHECKING:
    from ssmas.ops.backup.archive import BackupStore
    from ssmas.settings import Settings

__all__ = ["backup_app", "dr_app"]

backup_app = typer.Typer(
    name="backup",
    help="Encrypted, checksummed backups of the database, bus, lake and models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
dr_app = typer.Typer(
    name="dr",
    help="Disaster recovery: restore the newest backup into a fresh place and check it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


@dr_app.callback()
def dr_callback() -> None:
    """Disaster recovery."""


def _settings() -> Settings:
    from ssmas.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc))


def _store(settings: Settings, *, create_key: bool = False) -> BackupStore:
    from ssmas.ops.backup import store_for
    from ssmas.ops.backup.archive import BackupError

    try:
        return store_for(settings, create_key=create_key)
    except BackupError as exc:
        fail(first_line(exc))


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GB"


@backup_app.command()
def key() -> None:
    """Print a new random backup key (set it as SSMAS_OPS_BACKUP_KEY, keep a copy off-site)."""
    from ssmas.ops.backup.crypto import generate_key

    typer.echo(generate_key())


@backup_app.command()
def create(
    prune: bool = typer.Option(True, help="Apply the retention after the backup."),
) -> None:
    """Back up the database, the bus, MLflow and the data directory's files now."""
    from ssmas.ops.backup import source_for
    from ssmas.ops.backup.archive import BackupError

    settings = _settings()
    store = _store(settings, create_key=True)
    try:
        backup = store.create(source_for(settings))
        pruned = (
            store.prune(keep=settings.ops.backup_keep, keep_days=settings.ops.backup_keep_days)
            if prune
            else []
        )
    except (BackupError, OSError) as exc:
        fail(first_line(exc))
    out.print(
        f"backup {backup.id}: {len(backup.entries)} files, {_human(backup.size)} in "
        f"{backup.manifest['duration_s']} s; pruned {len(pruned)}"
    )
    for note in backup.manifest["notes"]:
        out.print(f"note: {note}")


@backup_app.command("list")
def list_backups(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per backup."),
) -> None:
    """The backups, newest first."""
    settings = _settings()
    store = _store(settings)
    backups = list(reversed(store.backups()))
    if as_json:
        for b in backups:
            typer.echo(
                json.dumps(
                    {
                        "id": b.id,
                        "created_at": b.manifest["created_at"],
                        "bytes": b.size,
                        "files": len(b.entries),
                        "database": b.manifest["database"].get("backend"),
                        "revision": b.manifest["database"].get("revision"),
                    }
                )
            )
        return
    if not backups:
        out.print(f"no backup in {store.root}")
        return
    table = Table("id", "created (UTC)", "age", "database", "files", "size")
    now = datetime.now(UTC).timestamp()
    for b in backups:
        table.add_row(
            b.id,
            b.manifest["created_at"][:19].replace("T", " "),
            f"{now - b.created_ts:.0f} s",
            str(b.manifest["database"].get("backend")),
            str(len(b.entries)),
            _human(b.size),
        )
    out.print(table)


@backup_app.command()
def verify(
    backup_id: str | None = typer.Argument(None, help="Backup id (default: the newest)."),
    quick: bool = typer.Option(False, "--quick", help="Checksums only; do not decrypt."),
) -> None:
    """Check a backup's signature, every file's checksum and (unless --quick) decryption."""
    from ssmas.ops.backup.archive import BackupError

    store = _store(_settings())
    try:
        backup = store.get(backup_id)
        checked = store.verify(backup, deep=not quick)
    except (BackupError, OSError) as exc:
        fail(first_line(exc))
    out.print(f"backup {backup.id} verified: {len(backup.entries)} files, {_human(checked)}")


@backup_app.command()
def restore(
    backup_id: str | None = typer.Argument(None, help="Backup id (default: the newest)."),
    yes: bool = typer.Option(False, "--yes", help="Replace the current state without asking."),
) -> None:
    """Restore a backup over the configured platform (stop the platform first)."""
    from ssmas.ops.backup import source_for
    from ssmas.ops.backup.archive import BackupError
    from ssmas.ops.backup.archive import restore as restore_backup

    settings = _settings()
    store = _store(settings)
    try:
        backup = store.get(backup_id)
        store.check_manifest(backup)
    except BackupError as exc:
        fail(first_line(exc))
    if not yes and not typer.confirm(
        f"Replace the database and files of {settings.data_dir} with backup {backup.id}?"
    ):
        fail("restore cancelled")
    try:
        report = restore_backup(store, backup, source_for(settings))
    except (BackupError, OSError) as exc:
        fail(first_line(exc))
    _audit_restore(settings, backup.id, report.bytes)
    out.print(
        f"restored backup {report.backup_id}: {report.files} files, {_human(report.bytes)} "
        f"in {report.seconds:.1f} s ({report.database})"
    )


def _audit_restore(settings: Settings, backup_id: str, size: int) -> None:
    """Append the restore to the audit log of the restored database (so it outlives it)."""
    from ssmas.core.db import UnitOfWork, make_engine, make_session_factory
    from ssmas.core.security import record_audit

    engine = make_engine(settings.resolved_database_url)
    try:
        with UnitOfWork(make_session_factory(engine)) as uow:
            record_audit(
                uow.session,
                actor="cli",
                action="backup.restored",
                target=backup_id,
                details={"bytes": size},
            )
            uow.commit()
    except Exception as exc:  # the restore is done; a failed audit entry must say so
        fail(f"restored backup {backup_id}, but its audit entry failed: {first_line(exc)}")
    finally:
        engine.dispose()


@backup_app.command("prune")
def prune_backups(
    keep: int | None = typer.Option(None, min=1, help="Keep the newest N (default: settings)."),
    keep_days: float | None = typer.Option(None, min=0.0, help="Delete older than D days."),
) -> None:
    """Apply the retention now."""
    from ssmas.ops.backup.archive import BackupError

    settings = _settings()
    store = _store(settings)
    try:
        gone = store.prune(
            keep=keep or settings.ops.backup_keep,
            keep_days=keep_days if keep_days is not None else settings.ops.backup_keep_days,
        )
    except (BackupError, OSError) as exc:
        fail(first_line(exc))
    out.print(f"deleted {len(gone)} backups" + (f": {', '.join(gone)}" if gone else ""))


def _record_drill(settings: Settings, report: Any) -> None:
    """Keep the drill's report for the backups page; a failure to write it is said, not fatal."""
    import time

    from ssmas.ops.backup import backup_dir
    from ssmas.ops.backup.history import record_drill

    try:
        record_drill(backup_dir(settings), report, at=time.time())
    except OSError as exc:
        err.print(f"warning: the drill's report was not recorded: {exc}")


@dr_app.command()
def drill(
    into: Path | None = typer.Option(
        None, "--into", help="Fresh folder to restore into (default: a temporary one)."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the restored copy (and database)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Restore the newest backup into a fresh data directory (and a fresh PostgreSQL database
    for a PostgreSQL backup), check it, and report RTO and RPO; exit 1 when a check fails."""
    from dataclasses import asdict

    from ssmas.core.db.migrate import head_revision
    from ssmas.ops.backup.archive import BackupError
    from ssmas.ops.backup.archive import drill as run_drill

    settings = _settings()
    store = _store(settings)
    admin = (
        settings.database_url
        if settings.database_url and "postgres" in settings.database_url
        else None
    )
    scratch = None
    if into is None:
        scratch = tempfile.mkdtemp(prefix="ssmas-drill-")
        into = Path(scratch) / "data"
    try:
        report = run_drill(
            store, into=into, head=head_revision(), postgres_admin_url=admin, keep=keep
        )
    except (BackupError, OSError) as exc:
        fail(first_line(exc))
    finally:
        if scratch is not None and not keep:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    _record_drill(settings, report)
    if as_json:
        typer.echo(json.dumps({**asdict(report), "ok": report.ok}))
    else:
        out.print(
            f"drill of backup {report.backup_id} ({report.backend}): RTO {report.rto_s:.2f} s, "
            f"RPO {report.rpo_s:.1f} s, {report.tables} tables, {report.rows} rows, "
            f"{_human(report.bytes)}, revision {report.revision}"
        )
        for name, passed in report.checks.items():
            out.print(f"  {'ok ' if passed else 'FAIL'} {name}")
        for problem in report.problems:
            out.print(f"  problem: {problem}")
    if not report.ok:
        raise typer.Exit(code=1)
