"""CLI sub-apps ``ssmas db`` (migrations) and ``ssmas keys`` (API keys).

Commands translate arguments, call the db/security services and print; bad input or an
unreachable database exits 2 with a one-line message on stderr. Heavy imports (SQLAlchemy,
Alembic) happen inside the commands so every other ``ssmas`` command starts fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ssmas.core.cli_errors import fail as _fail
from ssmas.core.security_commands import pii_app
from ssmas.core.security_index_commands import index_app

if TYPE_CHECKING:
    from ssmas.core.db import UnitOfWork

db_app = typer.Typer(help="Database schema: upgrade, current revision.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys: create, list, revoke; `keys pii` rotates the PII key, `keys blind-index` "
    "the blind-index key.",
    no_args_is_help=True,
)
keys_app.add_typer(pii_app, name="pii")
keys_app.add_typer(index_app, name="blind-index")
stdout = Console()
stderr = Console(stderr=True)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Database URL (default: SSMAS_DATABASE_URL or the data dir)."),
]


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _safe_url(url: str) -> str:
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable URL>"


@contextlib.contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Turn the failures a user can cause (bad URL, dead server, bad revision) into exit 2."""
    from alembic.util import CommandError
    from sqlalchemy import exc as sa_exc

    try:
        yield
    except sa_exc.NoSuchModuleError as exc:
        _fail(f"unsupported database URL {_safe_url(url)!r}: {_first_line(exc)}")
    except sa_exc.ArgumentError as exc:
        _fail(f"invalid database URL: {_first_line(exc)}")
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        _fail(f"cannot use the database at {_safe_url(url)}: {_first_line(exc)}")
    except CommandError as exc:
        _fail(f"migration failed: {_first_line(exc)}")
    except OSError as exc:
        _fail(f"cannot use the database at {_safe_url(url)}: {exc.strerror or exc}")


def _database_url(url: str | None) -> str:
    from pydantic import ValidationError

    from ssmas.settings import get_settings

    if url:
        return url
    try:
        return get_settings().resolved_database_url
    except ValidationError as exc:
        _fail(f"invalid settings: {exc.errors()[0]['msg']}")


@db_app.command("upgrade")
def db_upgrade(
    url: UrlOption = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the schema up to REVISION (idempotent)."""
    from ssmas.core.db import current_revision, upgrade

    database_url = _database_url(url)
    with _database_errors(database_url):
        upgrade(database_url, revision)
        now = current_revision(database_url)
    stderr.print(f"database at {_safe_url(database_url)} is at revision {now}")


@db_app.command("current")
def db_current(url: UrlOption = None) -> None:
    """Print the revision the database is at ('none' before the first upgrade)."""
    from ssmas.core.db import current_revision, head_revision

    database_url = _database_url(url)
    with _database_errors(database_url):
        now = current_revision(database_url)
    typer.echo(now or "none")
    head = head_revision()
    if now != head:
        stderr.print(f"behind head {head}: run `ssmas db upgrade`")


@contextlib.contextmanager
def _key_store() -> Iterator[UnitOfWork]:
    """A unit of work on the settings' database, migrated first."""
    from ssmas.core.db import UnitOfWork, make_engine, make_session_factory, upgrade

    database_url = _database_url(None)
    with _database_errors(database_url):
        upgrade(database_url)
        engine = make_engine(database_url)
        try:
            with UnitOfWork(make_session_factory(engine)) as uow:
                yield uow
        finally:
            engine.dispose()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", "-s", help="Scope to grant (repeatable): admin, pricing:read…"),
    ] = [],  # noqa: B006 - typer copies option defaults
    tier: Annotated[
        str | None,
        typer.Option(help="Rate-limit tier (SSMAS_RATE_LIMIT_TIERS: basic, standard, premium…)."),
    ] = None,
) -> None:
    """Create a key and print it once on stdout; only its hash is stored."""
    from ssmas.core.security import (
        InvalidScopeError,
        create_api_key,
        record_audit,
        validate_scopes,
    )

    try:
        scopes = validate_scopes(scope)
    except InvalidScopeError as exc:
        _fail(str(exc))
    if not scopes:
        _fail("give at least one --scope (e.g. --scope pricing:read)")
    if not name.strip():
        _fail("the key needs a non-empty NAME")
    if tier is not None:
        from ssmas.settings import get_settings

        tiers = get_settings().rate_limit_tiers
        if tier not in tiers:
            _fail(f"unknown --tier {tier!r}: use one of {', '.join(sorted(tiers))}")
    with _key_store() as uow:
        raw, record = create_api_key(uow.session, name, scopes, tier=tier)
        record_audit(
            uow.session,
            actor="cli",
            action="api_key.created",
            target=record.prefix,
            details={"name": record.name, "scopes": record.scopes, "tier": record.tier},
        )
        uow.commit()
    typer.echo(raw)
    stderr.print(
        f"created key {record.prefix} for {record.name!r} with scopes {', '.join(record.scopes)}"
        f"{f' (tier {record.tier})' if record.tier else ''}; store it now, it is not shown again"
    )


@keys_app.command("list")
def keys_list() -> None:
    """Show every key (prefix, name, scopes, dates, status); never the secret."""
    from rich.table import Table

    from ssmas.core.security import list_api_keys

    with _key_store() as uow:
        records = list_api_keys(uow.session)
    table = Table(title="API keys")
    table.add_column("prefix", no_wrap=True)
    table.add_column("name")
    table.add_column("scopes")
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("last used (UTC)", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for record in records:
        table.add_row(
            record.prefix,
            record.name,
            " ".join(record.scopes),
            f"{record.created_at:%Y-%m-%d %H:%M}",
            f"{record.last_used_at:%Y-%m-%d %H:%M}" if record.last_used_at else "-",
            "revoked" if record.revoked else "active",
        )
    stdout.print(table)


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (or the whole key).")],
) -> None:
    """Revoke a key so it no longer authenticates, and tell every API process on the bus."""
    from ssmas.core.security import parse_api_key, record_audit, revoke_api_key

    parsed = parse_api_key(prefix)
    key_prefix = parsed[0] if parsed else prefix.strip()
    with _key_store() as uow:
        if not revoke_api_key(uow.session, key_prefix):
            _fail(f"no API key with prefix {key_prefix!r} (see `ssmas keys list`)")
        record_audit(uow.session, actor="cli", action="api_key.revoked", target=key_prefix)
        uow.commit()
    stderr.print(f"revoked key {key_prefix}")
    _announce_revocation(key_prefix)


def _announce_revocation(key_prefix: str) -> None:
    """Publish the revocation; if the bus is down the database still holds it (said, exit 0)."""
    from ssmas.core.bus import bus_from_settings
    from ssmas.core.security.revocation import announce_revocation
    from ssmas.settings import get_settings

    settings = get_settings()
    try:
        bus = bus_from_settings(settings)
        try:
            announce_revocation(bus, key_prefix)
        finally:
            bus.close()
    except Exception as exc:  # the revocation is committed: report, don't fail
        stderr.print(
            f"warning: could not announce the revocation on the bus ({_first_line(exc)}); API "
            f"processes stop accepting the key within {settings.api_key_cache_s:g} s"
        )
