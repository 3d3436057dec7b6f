"""``ssmas adops agents``: the tool catalogue, approvals (list, approve, deny as a named
approver) and the agents' audit trail. Bad input exits with code 2 and one line on stderr."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from ssmas.core.cli_errors import fail as _fail

agents_app = typer.Typer(name="agents", no_args_is_help=True, pretty_exceptions_enable=False)
out = Console()


@agents_app.callback()
def agents() -> None:
    """The AdOps agents: tools, approvals and audit trail."""


@agents_app.command("tools")
def tools_command(
    as_json: bool = typer.Option(False, "--json", help="Full specs as JSON."),
) -> None:
    """The tool catalogue: name, kind, risk and what each does."""
    from ssmas.adops.tools import registry

    specs = [t.spec() for t in registry().values()]
    if as_json:
        typer.echo(json.dumps(specs, indent=2))
        return
    table = Table(title=f"AdOps tools ({len(specs)})")
    for name in ("tool", "kind", "risk", "undo", "description"):
        table.add_column(name)
    for s in specs:
        table.add_row(
            s["name"], s["kind"], s["risk"], "yes" if s["reversible"] else "no", s["description"]
        )
    out.print(table)


@agents_app.command("approvals")
def approvals_command(
    state: str | None = typer.Option(None, "--state", help="pending, approved, denied, ..."),
) -> None:
    """Approval requests, newest first."""
    from ssmas.adops.runtime import incident_service
    from ssmas.adops.safety import list_approvals
    from ssmas.core.platform import build_platform
    from ssmas.settings import get_settings

    states = ("pending", "approved", "denied", "expired", "executed")
    if state is not None and state not in states:
        _fail(f"unknown state {state!r}; choose from {', '.join(states)}")
    platform = build_platform(get_settings())
    try:
        with incident_service(platform).session() as session:
            rows = list_approvals(session, state)
    finally:
        platform.close()
    table = Table(title=f"Approvals ({len(rows)})")
    for name in ("approval", "state", "risk", "incident", "action", "expires", "decided by"):
        table.add_column(name)
    for r in rows:
        table.add_row(
            r["approval_id"],
            r["state"],
            r["risk"],
            r["incident_id"],
            f"{r['tool']} {json.dumps(r['args'])}",
            f"{r['expires_at']:%H:%M}",
            r["decided_by"] or "",
        )
    out.print(table)


def _decide(approval_id: str, approver: str, approve: bool, note: str) -> None:
    from ssmas.adops.api_agents import policy_of
    from ssmas.adops.safety import SafetyError, decide
    from ssmas.core.platform import build_platform
    from ssmas.settings import get_settings

    platform = build_platform(get_settings())
    try:
        row = decide(
            platform.engine,
            policy_of(platform),
            approval_id,
            approver,
            approve=approve,
            note=note,
            clock=lambda: datetime.now(UTC),
        )
    except SafetyError as exc:
        _fail(str(exc))
    finally:
        platform.close()
    out.print(
        f"{row['approval_id']}: {row['state']} by {row['decided_by']} "
        f"({row['tool']} {json.dumps(row['args'])})"
    )


@agents_app.command("approve")
def approve_command(
    approval_id: str = typer.Argument(..., help="The request's id (apr-...)."),
    approver: str = typer.Option(..., "--as", help="Your name, as listed in agent_approvers."),
    note: str = typer.Option("", "--note"),
) -> None:
    """Allow a high-risk action; the agents apply it at their next step."""
    _decide(approval_id, approver, True, note)


@agents_app.command("deny")
def deny_command(
    approval_id: str = typer.Argument(..., help="The request's id (apr-...)."),
    approver: str = typer.Option(..., "--as", help="Your name, as listed in agent_approvers."),
    note: str = typer.Option("", "--note"),
) -> None:
    """Refuse a high-risk action: nothing is changed and the incident goes to a person."""
    _decide(approval_id, approver, False, note)


@agents_app.command("audit")
def audit_command(limit: int = typer.Option(50, "--limit", min=1, max=2000)) -> None:
    """The agents' audit trail, newest first."""
    from ssmas.adops.runtime import incident_service
    from ssmas.adops.safety import adops_audit
    from ssmas.core.platform import build_platform
    from ssmas.settings import get_settings

    platform = build_platform(get_settings())
    try:
        with incident_service(platform).session() as session:
            rows = adops_audit(session, limit)
    finally:
        platform.close()
    table = Table(title=f"AdOps agents' audit ({len(rows)})")
    for name in ("at", "actor", "action", "incident", "details"):
        table.add_column(name)
    for r in rows:
        table.add_row(
            f"{r['at']:%Y-%m-%d %H:%M}",
            r["actor"],
            r["action"],
            r["target"],
            json.dumps(r["details"])[:120],
        )
    out.print(table)
