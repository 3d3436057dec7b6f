"""``ssmas campaigns tenant ...`` and ``ssmas campaigns import``: tenants, their keys and usage,
and lead files imported with a progress bar and a report of the rows left out.

Each command builds the platform (migrating the database), calls a service and prints; bad
input (an unknown tenant, an unreadable file) is one line and exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ssmas.core.api.errors import DomainError
from ssmas.core.cli_errors import fail, first_line
from ssmas.core.platform import Platform
from ssmas.core.progress import progress_bar

__all__ = ["import_command", "open_platform", "tenant_app"]

tenant_app = typer.Typer(
    name="tenant", help="Tenants: create, list, keys, usage and invoices.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)
TENANT_COLUMNS = (
    "id",
    "name",
    "tier",
    "status",
    "messages/day",
    "validations/min",
    "experiments",
    "messages (month)",
    "validations (month)",
    "leads (month)",
)


@contextmanager
def open_platform() -> Iterator[Platform]:
    """The platform of the configured settings; a domain error inside is one line, exit 2."""
    from ssmas.core.platform import build_platform
    from ssmas.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        fail(str(exc))
    platform = build_platform(settings)
    try:
        yield platform
    except DomainError as exc:
        fail(exc.message)
    except (ValueError, OSError) as exc:
        fail(first_line(exc))
    finally:
        platform.close()


@tenant_app.command("create")
def create(
    slug: str = typer.Argument(..., help="The tenant's id: 3-64 of a-z, 0-9 and inner '-'."),
    name: str = typer.Option("", "--name", help="Display name (default: the id)."),
    tier: str = typer.Option("starter", "--tier", help="starter, growth or enterprise."),
) -> None:
    """Create a tenant and print its first API key (shown once)."""
    from ssmas.campaigns.tenancy import create_tenant, issue_key

    with open_platform() as platform, platform.uow() as uow:
        tenant = create_tenant(uow.session, slug, name or slug, tier)
        raw, _record = issue_key(uow.session, tenant, actor="cli")
        uow.commit()
    out.print(f"tenant {tenant.slug} ({tenant.tier}) created; its API key (shown once):")
    out.print(raw, highlight=False, soft_wrap=True)


@tenant_app.command("list")
def list_() -> None:
    """Every tenant with its tier, quotas and this month's usage."""
    from ssmas.campaigns.tenancy import list_tenants, quotas_of, usage_between

    today = datetime.now(UTC).date()
    table = Table(title="tenants")
    for column in TENANT_COLUMNS:
        table.add_column(column)
    with open_platform() as platform, platform.uow() as uow:
        for tenant in list_tenants(uow.session):
            quotas = quotas_of(tenant)
            usage = usage_between(uow.session, tenant.id, today.replace(day=1), today)
            table.add_row(
                tenant.slug,
                tenant.name,
                tenant.tier,
                tenant.status,
                f"{quotas.messages_per_day:,}",
                f"{quotas.validations_per_minute:,}",
                str(quotas.experiments),
                f"{usage['messages']:,}",
                f"{usage['validations']:,}",
                f"{usage['leads_imported']:,}",
            )
    out.print(table)


@tenant_app.command("set")
def set_(
    slug: str = typer.Argument(..., help="The tenant's id."),
    tier: str | None = typer.Option(None, "--tier", help="starter, growth or enterprise."),
    status: str | None = typer.Option(None, "--status", help="active or suspended."),
    name: str | None = typer.Option(None, "--name", help="A new display name."),
) -> None:
    """Change a tenant's tier (its quotas apply at once), status or name."""
    from ssmas.campaigns.tenancy import update_tenant

    with open_platform() as platform, platform.uow() as uow:
        tenant = update_tenant(uow.session, slug, name=name, tier=tier, status=status)
        uow.commit()
    out.print(f"tenant {tenant.slug}: {tenant.tier}, {tenant.status}, {tenant.name!r}")


@tenant_app.command("key")
def key(slug: str = typer.Argument(..., help="The tenant's id.")) -> None:
    """Create another API key for a tenant (shown once)."""
    from ssmas.campaigns.tenancy import get_tenant, issue_key

    with open_platform() as platform, platform.uow() as uow:
        raw, _ = issue_key(uow.session, get_tenant(uow.session, slug), actor="cli")
        uow.commit()
    out.print(raw, highlight=False, soft_wrap=True)


@tenant_app.command("invoice")
def invoice_command(
    slug: str = typer.Argument(..., help="The tenant's id."),
    month: str = typer.Option("", "--month", help="YYYY-MM (default: this month)."),
) -> None:
    """A tenant's invoice lines for a month (usage so far for the current one)."""
    from ssmas.campaigns.tenancy import get_tenant, invoice, parse_month

    with open_platform() as platform, platform.uow() as uow:
        first = parse_month(month or datetime.now(UTC).strftime("%Y-%m"))
        bill = invoice(uow.session, get_tenant(uow.session, slug), first)
    table = Table(title=f"{bill.tenant} · {bill.month} · {bill.tier}")
    for column in ("item", "quantity", f"unit price ({bill.currency})", "amount"):
        table.add_column(column, justify="left" if column == "item" else "right")
    for line in bill.lines:
        table.add_row(line.item, f"{line.quantity:,}", str(line.unit_price), str(line.amount))
    table.add_row("total", "", "", str(bill.total))
    out.print(table)


def import_command(
    file: Path = typer.Argument(..., help="A CSV or XLSX file with a phone column."),
    tenant: str = typer.Option(..., "--tenant", help="The tenant's id."),
    encoding: str = typer.Option("utf-8", "--encoding", help="utf-8, latin-1 or cp1252 (CSV)."),
    show: int = typer.Option(20, "--show", help="Rejected rows to print (all are recorded)."),
) -> None:
    """Import leads: validate, deduplicate per tenant, report the rows left out."""
    from ssmas.campaigns.leads import import_leads
    from ssmas.campaigns.leads.scoring import score_tenant_leads
    from ssmas.campaigns.runtime import campaigns_runtime
    from ssmas.campaigns.tenancy import get_tenant

    if not file.is_file():
        fail(f"no such file: {file}")
    data = file.read_bytes()
    with open_platform() as platform:
        with platform.uow() as uow:
            tenant_id = get_tenant(uow.session, tenant).id
        runtime = campaigns_runtime(platform)
        with progress_bar("import", err) as bar:
            summary = import_leads(
                platform.session_factory,
                tenant_id,
                file.name,
                data,
                cipher=runtime.cipher,
                checker=runtime.validator,
                encoding=encoding,
                progress=bar.update,
            )
            bar.stage("quality")
            _outcome, summary.quality = score_tenant_leads(
                platform, tenant_id, tenant, progress=bar.update
            )
    out.print(
        f"import {summary.import_id} {summary.status}: {summary.rows:,} rows, "
        f"{summary.created:,} new, {summary.updated:,} updated, "
        f"{summary.duplicates:,} repeated, {summary.rejected:,} rejected",
        highlight=False,
    )
    out.print(summary.quality, highlight=False, markup=False)
    if summary.report and show > 0:
        table = Table(title=f"rows left out (first {min(show, len(summary.report))})")
        for column in ("row", "reason", "column"):
            table.add_column(column)
        for entry in summary.report[:show]:
            table.add_row(str(entry["row"]), entry["reason"], entry.get("column") or "")
        out.print(table)
    if summary.status == "failed":
        fail(f"the file broke off: {summary.error} (the rows before it were imported)")
