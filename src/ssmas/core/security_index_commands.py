"""CLI sub-app ``ssmas keys blind-index``: rotation of the blind-index key (equality look-ups).

``rotate`` adds a version that look-ups match, activates it once every process matches it,
then re-indexes every stored index under it while the platform keeps serving (progress on
stderr); ``status`` counts stored indexes per version; ``activate`` and ``reindex`` resume an
interrupted rotation; ``retire B`` drops a version no stored index uses. The steps are in
:mod:`ssmas.core.security.pii_index_keys`; refusals exit 2 with one line.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ssmas.core.cli_errors import fail
from ssmas.core.security_commands import _cipher, _store, versions_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from ssmas.core.security.pii import PiiCipher
    from ssmas.core.security.pii_index_keys import ReindexReport
    from ssmas.settings import Settings

index_app = typer.Typer(
    help="The blind-index key (look-ups by value): status, rotate, activate, reindex, retire.",
    no_args_is_help=True,
)
stdout = Console()
stderr = Console(stderr=True)


def _version(text: str) -> int:
    value = text.strip().lower().removeprefix("b")
    if not value.isdigit() or int(value) < 1:
        fail(
            f"invalid blind-index version {text!r}: use b1, b2... "
            "(see `ssmas keys blind-index status`)"
        )
    return int(value)


def _settle_s(settings: Settings) -> float:
    """How long until every process has re-read the ring (the refresh interval, twice, + 1 s)."""
    return settings.ops.pii_key_refresh_s * 2 + 1


def _run_reindex(engine: Engine, cipher: PiiCipher, session: Session) -> ReindexReport:
    """Re-index with a progress bar, audit it, and say what is left."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ssmas.core.security import record_audit
    from ssmas.core.security.pii_index_keys import index_columns, index_usage, reindex

    cipher.refresh(force=True)
    active = cipher.active_index_version
    usage = index_usage(engine, index_columns(engine))
    total = sum(n for version, n in usage.items() if version != active)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(f"re-indexing under b{active}", total=total)

        def advance(column: str, rows: int) -> None:
            progress.update(task, advance=rows, description=f"re-indexing {column}")

        report = reindex(engine, cipher, progress=advance)
    record_audit(
        session,
        actor="cli",
        action="pii_index_key.reindexed",
        target=f"b{active}",
        details={
            "rewritten": report.rewritten,
            "passes": report.passes,
            "seconds": round(report.seconds, 3),
            "unexplained": report.unexplained,
            "conflicts": report.conflicts,
        },
    )
    session.commit()
    left = {v: n for v, n in index_usage(engine).items() if v != active}
    stderr.print(
        f"re-indexed {report.rewritten} stored indexes in {report.seconds:.1f} s "
        f"({report.passes} passes); under older versions now: "
        + (", ".join(f"b{v}: {n}" for v, n in sorted(left.items())) if left else "none")
    )
    if report.unexplained or report.conflicts:
        stderr.print(
            f"warning: {report.unexplained} indexes no stored value explains and "
            f"{report.conflicts} whose new value a unique index already holds were left as "
            "they are; the older version can't be retired while they are"
        )
    return report


@index_app.command("status")
def index_status_command() -> None:
    """Each blind-index version: state, dates and how many stored indexes are under it."""
    from ssmas.core.security.pii_index_keys import index_status

    with _store() as (_settings, engine, session):
        rows = index_status(session, engine)
    stdout.print(
        versions_table(
            "Blind-index key versions",
            ("version", "stopped writing", "indexes"),
            [
                (f"b{r.version}", r.state, r.created_at, r.deactivated_at, r.retired_at, r.indexes)
                for r in rows
            ],
        )
    )


@index_app.command("rotate")
def index_rotate(
    reindex_now: Annotated[
        bool,
        typer.Option("--reindex/--no-reindex", help="Re-index every stored index now (default)."),
    ] = True,
) -> None:
    """Add a blind-index version, activate it once every process matches it, re-index, live."""
    from ssmas.core.security.pii_index_keys import activate_index_version, add_index_version
    from ssmas.core.security.pii_keys import PiiKeyRingError

    with _store() as (settings, engine, session):
        cipher = _cipher(settings)
        settle = _settle_s(settings)
        try:
            version = add_index_version(session, cipher, actor="cli")
            session.commit()
            stderr.print(f"b{version} added: look-ups match it within {settle:g} s")
            time.sleep(settle)
            activate_index_version(session, version, actor="cli")
            session.commit()
        except PiiKeyRingError as exc:
            fail(str(exc))
        stderr.print(f"b{version} is active: every new index is computed under it")
        if reindex_now:
            time.sleep(settle)  # until no process writes the older version
            _run_reindex(engine, cipher, session)
    typer.echo(f"b{version}")


@index_app.command("activate")
def index_activate(
    version: Annotated[str, typer.Argument(help="The added version to activate: b2, b3...")],
) -> None:
    """Activate a version ``rotate --no-reindex`` or an interrupted rotate left added."""
    from ssmas.core.security.pii_index_keys import activate_index_version
    from ssmas.core.security.pii_keys import PiiKeyRingError

    number = _version(version)
    with _store() as (_settings, _engine, session):
        try:
            activate_index_version(session, number, actor="cli")
        except PiiKeyRingError as exc:
            fail(str(exc))
        session.commit()
    stderr.print(f"b{number} is active")


@index_app.command("reindex")
def index_reindex() -> None:
    """Re-index every stored index not under the active version (resumes a rotation)."""
    with _store() as (settings, engine, session):
        _run_reindex(engine, _cipher(settings), session)


@index_app.command("retire")
def index_retire(
    version: Annotated[str, typer.Argument(help="The version to retire: b1, b2...")],
) -> None:
    """Stop matching an old version once no stored index uses it; its material is deleted."""
    from ssmas.core.security.pii_index_keys import retire_index_version
    from ssmas.core.security.pii_keys import PiiKeyRingError

    number = _version(version)
    with _store() as (_settings, engine, session):
        try:
            retire_index_version(session, engine, number, actor="cli")
        except PiiKeyRingError as exc:
            fail(str(exc))
        session.commit()
    stderr.print(f"retired blind-index version b{number}: its material is deleted")
