"""``ssmas assistant customer export | erase`` and ``ssmas assistant retention``.

A customer's data on request (GDPR / LFPDPPP): export prints everything held about a phone
number as JSON (or writes it to a file, 0600); erase deletes it from the database, the cache,
the bus archive and the media folder, and says what it deleted. Both are audited. With the
embedded in-process cache, a context window cached by a running server is reached only through
the API (``DELETE /v1/assistant/customers/{phone}``); it is sealed and expires after
``context_ttl_s`` anyway.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ssmas.assistant.governance import Governance
    from ssmas.core.platform import Platform

from ssmas.core.cli_errors import fail, first_line
from ssmas.settings import get_settings

customer_app = typer.Typer(
    help="A customer's data on request: export, erase.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

PhoneArgument = Annotated[str, typer.Argument(help="the customer's WhatsApp number (digits)")]
BusinessOption = Annotated[
    str | None, typer.Option("--business", help="only on this business number id")
]


def _phone(value: str) -> str:
    phone = value.strip().lstrip("+")
    if not phone.isdigit() or not 6 <= len(phone) <= 20:
        fail(f"PHONE must be 6 to 20 digits (an optional leading +), not {value!r}")
    return phone


def _governance() -> tuple[Platform, Governance]:
    from ssmas.assistant.governance import governance_for
    from ssmas.core.logging import logs_to_stderr
    from ssmas.core.platform import build_platform

    settings = get_settings()
    logs_to_stderr()  # stdout carries only the JSON
    try:
        platform = build_platform(settings)
    except Exception as exc:  # a bad database URL, a bus that is down: one line, exit 2
        fail(f"cannot open the platform: {first_line(exc)}")
    return platform, governance_for(platform)


@customer_app.command("export")
def export_command(
    phone: PhoneArgument,
    business: BusinessOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="write the JSON here (mode 0600), not stdout")
    ] = None,
) -> None:
    """Print (or write) everything held about PHONE as JSON."""
    from ssmas.assistant.governance import NoSuchCustomer

    number = _phone(phone)
    platform, governance = _governance()
    try:
        document = governance.export(number, business, actor="cli")
    except NoSuchCustomer as exc:
        fail(str(exc))
    finally:
        platform.close()
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    typer.echo(f"wrote {out}", err=True)


@customer_app.command("erase")
def erase_command(
    phone: PhoneArgument,
    business: BusinessOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="confirm: this cannot be undone")] = False,
) -> None:
    """Delete everything held about PHONE (database, cache, bus archive, media)."""
    from ssmas.assistant.governance import NoSuchCustomer

    number = _phone(phone)
    if not yes:
        fail("erasure cannot be undone: add --yes to confirm")
    platform, governance = _governance()
    try:
        report = governance.erase(number, business, actor="cli")
    except NoSuchCustomer as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(str(exc))
    finally:
        platform.close()
    typer.echo(json.dumps(report.as_dict()))


def retention_command(
    messages_days: Annotated[
        float | None, typer.Option("--messages-days", min=0, help="override the setting")
    ] = None,
    media_days: Annotated[
        float | None, typer.Option("--media-days", min=0, help="override the setting")
    ] = None,
    conversations_days: Annotated[
        float | None, typer.Option("--conversations-days", min=0, help="override the setting")
    ] = None,
) -> None:
    """Apply the retention settings once now and print what was deleted."""
    from ssmas.core.db import utcnow

    wa = get_settings().whatsapp
    platform, governance = _governance()
    try:
        report = governance.apply_retention(
            now=utcnow(),
            messages_days=wa.retention_messages_days if messages_days is None else messages_days,
            media_days=wa.retention_media_days if media_days is None else media_days,
            conversations_days=(
                wa.retention_conversations_days
                if conversations_days is None
                else conversations_days
            ),
        )
    finally:
        platform.close()
    typer.echo(json.dumps(report.as_dict()))
