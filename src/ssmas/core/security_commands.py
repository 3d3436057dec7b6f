"""CLI sub-apps ``ssmas keys pii`` (the PII key ring) and ``ssmas audit`` (the audit log).

``ssmas keys pii rotate`` adds a key version and re-encrypts every PII column in batches while
the platform keeps serving (progress on stderr); ``status`` counts ciphertexts per key;
``reencrypt`` resumes an interrupted re-encryption; ``retire K`` drops a key nothing uses.
``ssmas audit list`` prints the newest entries, ``ssmas audit verify`` walks the hash chain.
Refusals exit 2 with one line.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ssmas.core.cli_errors import fail, first_line

if TYPE_CHECKING:
    from datetime import datetime

    from rich.table import Table
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from ssmas.core.security.pii import PiiCipher
    from ssmas.core.security.pii_keys import ReencryptReport
    from ssmas.settings import Settings

pii_app = typer.Typer(
    help="The PII encryption key ring: status, rotate, reencrypt, retire.", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit log: list entries, verify the chain.", no_args_is_help=True)
stdout = Console()
stderr = Console(stderr=True)


@contextlib.contextmanager
def _store() -> Iterator[tuple[Settings, Engine, Session]]:
    """Settings, an engine and a session on the migrated database; bad settings exit 2."""
    from pydantic import ValidationError
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.orm import Session

    from ssmas.core.db import make_engine, upgrade
    from ssmas.settings import get_settings

    try:
        settings = get_settings()
    except ValidationError as exc:
        fail(f"invalid settings: {exc.errors()[0]['msg']}")
    url = settings.resolved_database_url
    try:
        upgrade(url)
        engine = make_engine(url)
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        fail(f"cannot use the database: {first_line(exc)}")
    try:
        with Session(engine) as session:
            yield settings, engine, session
    except sa_exc.OperationalError as exc:
        fail(f"cannot use the database: {first_line(exc)}")
    finally:
        engine.dispose()


def versions_table(
    title: str,
    names: tuple[str, str, str],
    rows: list[tuple[str, str, datetime | None, datetime | None, datetime | None, int]],
) -> Table:
    """The status table of a key ring's versions (encryption keys, blind-index keys): name,
    state, the three dates and how many stored values use it; ``names`` are the first, the
    fourth and the last column's headers."""
    from rich.table import Table

    first, stopped, count = names
    table = Table(title=title)
    for name in (first, "state", "created (UTC)", stopped, "retired", count):
        table.add_column(name, no_wrap=True)
    for name, state, created, deactivated, retired, used in rows:
        table.add_row(
            name,
            state,
            *(f"{at:%Y-%m-%d %H:%M}" if at else "-" for at in (created, deactivated, retired)),
            f"{used:,}",
        )
    return table


def _cipher(settings: Settings) -> PiiCipher:
    from ssmas.core.security.pii import PiiKeyError, pii_cipher_from_settings

    try:
        cipher = pii_cipher_from_settings(settings)
        cipher.refresh(force=True)
    except PiiKeyError as exc:
        fail(str(exc))
    return cipher


def _run_reencrypt(settings: Settings, engine: Engine, cipher: PiiCipher) -> ReencryptReport:
    """Re-encrypt with a progress bar per pass; the final pass waits out the refresh interval."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ssmas.core.security.pii_keys import key_usage, pii_columns, reencrypt

    columns = pii_columns(engine)
    usage = key_usage(engine, columns, files_root=settings.data_dir)
    total = sum(count for key, count in usage.items() if key != cipher.active_key_id)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(f"re-encrypting under k{cipher.active_key_id}", total=total)

        def advance(column: str, rows: int) -> None:
            progress.update(task, advance=rows, description=f"re-encrypting {column}")

        return reencrypt(
            engine,
            cipher,
            settle_s=settings.ops.pii_key_refresh_s * 2 + 1,
            progress=advance,
            files_root=settings.data_dir,
        )


def _report(
    engine: Engine, cipher: PiiCipher, report: ReencryptReport, files_root: Path | None = None
) -> None:
    from ssmas.core.security.pii_keys import key_usage

    usage = key_usage(engine, files_root=files_root)
    left = {k: n for k, n in usage.items() if k != cipher.active_key_id}
    stderr.print(
        f"re-encrypted {report.rewritten} ciphertexts and {report.files} files "
        f"in {report.seconds:.1f} s "
        f"({report.passes} passes); under older keys now: "
        + (", ".join(f"k{k}: {n}" for k, n in sorted(left.items())) if left else "none")
    )
    if report.undecryptable:
        stderr.print(
            f"warning: {report.undecryptable} ciphertexts could not be decrypted with any held "
            "key and were left as they are"
        )


def _audit_reencrypt(session: Session, cipher: PiiCipher, report: ReencryptReport) -> None:
    from ssmas.core.security import record_audit

    record_audit(
        session,
        actor="cli",
        action="pii_key.reencrypted",
        target=f"k{cipher.active_key_id}",
        details={
            "rewritten": report.rewritten,
            "passes": report.passes,
            "seconds": round(report.seconds, 3),
            "undecryptable": report.undecryptable,
        },
    )
    session.commit()


@pii_app.command("status")
def pii_status() -> None:
    """Each key version: state, dates and how many ciphertexts are under it."""
    from ssmas.core.security.pii_keys import ring_status

    with _store() as (settings, engine, session):
        rows = ring_status(session, engine, files_root=settings.data_dir)
    stdout.print(
        versions_table(
            "PII key ring",
            ("key", "stopped encrypting", "ciphertexts"),
            [
                (f"k{r.id}", r.state, r.created_at, r.deactivated_at, r.retired_at, r.ciphertexts)
                for r in rows
            ],
        )
    )


@pii_app.command("rotate")
def pii_rotate(
    reencrypt_now: Annotated[
        bool,
        typer.Option(
            "--reencrypt/--no-reencrypt", help="Re-encrypt every PII column now (default)."
        ),
    ] = True,
) -> None:
    """Add a new key version, make it active, and re-encrypt all PII under it, live."""
    from ssmas.core.security.pii_keys import add_key

    with _store() as (settings, engine, session):
        cipher = _cipher(settings)
        new_id = add_key(session, cipher, actor="cli")
        session.commit()
        stderr.print(
            f"k{new_id} is now the active PII key; processes switch within "
            f"{settings.ops.pii_key_refresh_s:g} s and still read the older keys"
        )
        if not reencrypt_now:
            return
        cipher.refresh(force=True)
        report = _run_reencrypt(settings, engine, cipher)
        _audit_reencrypt(session, cipher, report)
        _report(engine, cipher, report, settings.data_dir)
    typer.echo(f"k{new_id}")


@pii_app.command("reencrypt")
def pii_reencrypt() -> None:
    """Re-encrypt every ciphertext not under the active key (resumes an interrupted rotate)."""
    with _store() as (settings, engine, session):
        cipher = _cipher(settings)
        report = _run_reencrypt(settings, engine, cipher)
        _audit_reencrypt(session, cipher, report)
        _report(engine, cipher, report, settings.data_dir)


@pii_app.command("retire")
def pii_retire(
    key: Annotated[str, typer.Argument(help="The key to retire: k1, k2... (or 1, 2...).")],
) -> None:
    """Retire an old key once no ciphertext uses it; its material is deleted."""
    from ssmas.core.security.pii_keys import PiiKeyRingError, retire_key

    text = key.strip().lower().removeprefix("k")
    if not text.isdigit() or int(text) < 1:
        fail(f"invalid key {key!r}: use k1, k2... (see `ssmas keys pii status`)")
    key_id = int(text)
    with _store() as (settings, engine, session):
        try:
            retire_key(
                session,
                engine,
                key_id,
                actor="cli",
                retire_after_s=settings.ops.pii_retire_after_s,
                files_root=settings.data_dir,
            )
        except PiiKeyRingError as exc:
            fail(str(exc))
        session.commit()
    stderr.print(f"retired PII key k{key_id}: its material is deleted")


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many entries.")] = 50,
    action: Annotated[
        str | None, typer.Option(help="Only this action (pricing.promote, pii_key.*...).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The newest audit entries, newest first."""
    from rich.table import Table

    from ssmas.core.security import list_audit

    with _store() as (_settings, _engine, session):
        records = list_audit(session, limit, action=action)
    if as_json:
        for record in records:
            typer.echo(json.dumps(record.model_dump(mode="json"), sort_keys=True))
        return
    table = Table(title="Audit log")
    for name in ("id", "at (UTC)", "actor", "action", "target", "details"):
        table.add_column(name)
    for record in records:
        table.add_row(
            str(record.id),
            f"{record.at:%Y-%m-%d %H:%M:%S}",
            record.actor,
            record.action,
            record.target,
            json.dumps(record.details, sort_keys=True)[:120],
        )
    stdout.print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 naming the first entry altered or removed."""
    from ssmas.core.security.audit import verify_audit_chain

    with _store() as (_settings, _engine, session):
        report = verify_audit_chain(session)
    if not report.ok:
        stderr.print(f"audit chain broken at entry {report.broken_at}: {report.reason}")
        raise typer.Exit(code=1)
    stderr.print(f"audit chain intact: {report.entries} entries")
