"""``ssmas assistant teams | agents | rules | canned | csat``: the agent workspace's directory.

Teams, agents (handle, name, languages, capacity, teams, available / away), assignment rules
(intent / language / priority → team), canned responses and CSAT per agent or team, from the
command line. Every change is audited with the actor ``cli``; bad input is one line on stderr and
exit code 2. Output is JSON (one document) so scripts can read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ssmas.core.cli_errors import fail, first_line
from ssmas.settings import get_settings

if TYPE_CHECKING:
    from ssmas.assistant.console import Console

T = TypeVar("T")
ACTOR = "cli"

teams_app = typer.Typer(help="Teams agents belong to.", no_args_is_help=True)
agents_app = typer.Typer(help="Agents: languages, capacity, teams, status.", no_args_is_help=True)
rules_app = typer.Typer(
    help="Assignment rules: which team gets an escalation.", no_args_is_help=True
)
canned_app = typer.Typer(
    help="Canned responses (per team, with {{variables}}).", no_args_is_help=True
)


def _run(work: Callable[[Console], T]) -> T:
    """Open the platform, run ``work`` on a console, close; a refused input exits 2."""
    from ssmas.assistant.console import Console
    from ssmas.assistant.runtime import channel_cipher, channel_settings
    from ssmas.core.api import DomainError
    from ssmas.core.logging import configure_logging
    from ssmas.core.platform import build_platform

    settings = get_settings()
    configure_logging(settings)
    try:
        platform = build_platform(settings)
    except Exception as exc:  # a bad database URL, a bus that is down: one line, exit 2
        fail(f"cannot open the platform: {first_line(exc)}")
    try:
        console = Console(
            platform.session_factory,
            channel_cipher(platform),
            platform.bus,
            platform.cache,
            channel_settings(platform),
        )
        return work(console)
    except DomainError as exc:
        fail(exc.message)
    finally:
        platform.close()


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str))


def _change(action: str, **fields: Any) -> None:
    from ssmas.core.db import utcnow

    _print(_run(lambda console: console.directory(action, ACTOR, utcnow(), **fields)))


def _list(what: str, **fields: Any) -> None:
    _print(_run(lambda console: console.listing(what, **fields)))


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@teams_app.command("add")
def team_add(name: Annotated[str, typer.Argument(help="a-z, 0-9, _ or -")]) -> None:
    """Create a team."""
    _change("add_team", name=name)


@teams_app.command("list")
def team_list() -> None:
    """Teams with their agents."""
    _list("teams")


TeamOption = Annotated[list[str], typer.Option("--team", help="a team (repeat, or a,b)")]
LanguageOption = Annotated[
    list[str], typer.Option("--language", help="a two-letter code (repeat, or es,en)")
]


@agents_app.command("add")
def agent_add(
    handle: Annotated[str, typer.Argument(help="who acts: web:<name> or apikey:<prefix>")],
    name: Annotated[str, typer.Option("--name", help="the name customers and pages see")],
    team: TeamOption = [],  # noqa: B006 - Typer's way to declare a repeatable option
    language: LanguageOption = [],  # noqa: B006
    capacity: Annotated[int, typer.Option("--capacity", help="open conversations at most")] = 5,
) -> None:
    """Add an agent to teams, with the languages they answer in (none: all)."""
    _change(
        "add_agent",
        handle=handle,
        name=name,
        languages=_split(language),
        capacity=capacity,
        teams=_split(team),
    )


@agents_app.command("set")
def agent_set(
    handle: Annotated[str, typer.Argument(help="the agent's handle")],
    status: Annotated[str | None, typer.Option("--status", help="available or away")] = None,
    capacity: Annotated[int | None, typer.Option("--capacity")] = None,
    language: LanguageOption = [],  # noqa: B006
    team: TeamOption = [],  # noqa: B006
) -> None:
    """Change an agent; one who goes away or over capacity has their unanswered handoffs
    reassigned at once."""
    fields: dict[str, Any] = {"handle": handle}
    if status is not None:
        fields["status"] = status
    if capacity is not None:
        fields["capacity"] = capacity
    if language:
        fields["languages"] = _split(language)
    if team:
        fields["teams"] = _split(team)
    if len(fields) == 1:
        fail("nothing to change: give --status, --capacity, --language or --team")
    _change("update_agent", **fields)


@agents_app.command("list")
def agent_list() -> None:
    """Agents with teams, languages, status and load (open handoffs / capacity)."""
    _list("agents")


@rules_app.command("add")
def rule_add(
    team: Annotated[str, typer.Option("--team", help="the team that gets matching escalations")],
    intent: Annotated[str | None, typer.Option("--intent")] = None,
    language: Annotated[str | None, typer.Option("--language")] = None,
    priority: Annotated[
        str | None, typer.Option("--priority", help="urgent, high, medium or low")
    ] = None,
    position: Annotated[int, typer.Option("--position", help="lower is tried first")] = 100,
) -> None:
    """Route escalations matching intent / language / priority (omitted: any) to a team."""
    _change(
        "add_rule",
        team=team,
        intent=intent,
        language=language,
        priority=priority,
        position=position,
    )


@rules_app.command("list")
def rule_list() -> None:
    """Rules in the order they are tried."""
    _list("rules")


@rules_app.command("delete")
def rule_delete(rule_id: Annotated[int, typer.Argument(min=1)]) -> None:
    _change("delete_rule", rule_id=rule_id)


@canned_app.command("add")
def canned_add(
    shortcut: Annotated[str, typer.Argument(help="a-z, 0-9, _ or -")],
    body: Annotated[str, typer.Argument(help="the text; {{name}}, {{agent}}... are filled")],
    team: Annotated[str | None, typer.Option("--team", help="only this team (default all)")] = None,
) -> None:
    """Add a canned response."""
    _change("add_canned", shortcut=shortcut, body=body, team=team)


@canned_app.command("list")
def canned_list(team: Annotated[str | None, typer.Option("--team")] = None) -> None:
    _list("canned", team=team)


@canned_app.command("delete")
def canned_delete(canned_id: Annotated[int, typer.Argument(min=1)]) -> None:
    _change("delete_canned", canned_id=canned_id)


def csat_command(
    by: Annotated[str, typer.Option("--by", help="agent or team")] = "agent",
) -> None:
    """CSAT answers per agent or team: answers, mean score, share of 4-5."""
    if by not in ("agent", "team"):
        fail(f"--by must be agent or team, not {by!r}")
    _list("csat", by=by)
