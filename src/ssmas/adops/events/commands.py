"""``ssmas adops rules ...`` (list, test, publish) and ``ssmas adops replay``: event rules.

Bad input (an invalid rule file, an unknown rule, an event file that is not a valid event, a
time that is not ISO-8601) ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ssmas.core.cli_errors import fail, first_line

__all__ = ["replay_command", "rules_app"]

rules_app = typer.Typer(name="rules", no_args_is_help=True, pretty_exceptions_enable=False)
out = Console()
err = Console(stderr=True)


@rules_app.callback()
def rules() -> None:
    """Event rules (the seed's EventBridge): list them, test one against an event, publish."""


def _settings() -> Any:
    from ssmas.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc))


def _rules(file: Path | None) -> Any:
    from ssmas.adops.events.rules import RuleFileError, load_rules

    try:
        return load_rules(file if file is not None else _settings().adops.rules_file)
    except RuleFileError as exc:
        fail(first_line(exc))


def _event(file: Path) -> Any:
    from ssmas.adops.events.envelope import EventError, parse_event

    try:
        return parse_event(file.read_bytes())
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    except EventError as exc:
        fail(f"{file}: {first_line(exc)}")


RulesFile = typer.Option(None, "--rules", help="Rule file (default: SSMAS_ADOPS_RULES_FILE).")


@rules_app.command("list")
def list_rules(rules_file: Path | None = RulesFile) -> None:
    """The loaded rules: name, on/off, pattern and targets."""
    ruleset = _rules(rules_file)
    table = Table(title=f"event rules from {ruleset.source}")
    table.add_column("rule", no_wrap=True)
    table.add_column("on")
    table.add_column("pattern", overflow="fold")
    table.add_column("targets")
    for rule in ruleset.rules:
        targets = ", ".join(f"{t.spec.id} ({t.spec.type})" for t in rule.targets)
        table.add_row(
            rule.name, "yes" if rule.spec.enabled else "no", json.dumps(rule.spec.pattern), targets
        )
    out.print(table)


@rules_app.command("test")
def test_rule(
    rule: str = typer.Option(..., "--rule", help="Name of the rule to test."),
    event: Path = typer.Option(..., "--event", help="JSON file holding one event."),
    rules_file: Path | None = RulesFile,
) -> None:
    """Whether RULE matches the event in FILE, and what each target would receive."""
    from ssmas.adops.events.dispatch import target_input

    ruleset = _rules(rules_file)
    found = ruleset.get(rule)
    if found is None:
        known = ", ".join(r.name for r in ruleset.rules) or "none"
        fail(f"no rule {rule!r} in {ruleset.source} (known: {known})")
    document = _event(event).document()
    if not found.match(document):
        out.print(f"rule {rule} does [bold]not[/bold] match")
        raise typer.Exit(code=1)
    out.print(f"rule {rule} matches{'' if found.spec.enabled else ' (but is disabled)'}")
    for target in found.targets:
        body = target_input(target, document, found.name)
        out.print(f"target {target.spec.id} ({target.spec.type}) receives:")
        out.print_json(json.dumps(body))


@rules_app.command("publish")
def publish(
    event: Path = typer.Option(..., "--event", help="JSON file holding one event."),
) -> None:
    """Publish the event in FILE on the events topic (the rules worker dispatches it)."""
    from ssmas.adops.events.service import publish_event
    from ssmas.core.bus import bus_from_settings

    parsed = _event(event)
    settings = _settings()
    bus = bus_from_settings(settings)
    try:
        publish_event(bus, parsed, settings.adops.events_topic)
    finally:
        bus.close()
    out.print(f"published {parsed.id} on {settings.adops.events_topic}")


def _when(text: str, flag: str, *, end: bool = False) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        else:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"bad {flag} {text!r}: use YYYY-MM-DD or an ISO-8601 time")
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def replay_command(
    start: str = typer.Option(..., "--from", help="From this time (ISO-8601, or a day)."),
    end: str = typer.Option(..., "--to", help="Up to this time (a day: its end)."),
    rule: str | None = typer.Option(None, "--rule", help="Only this rule's targets."),
    name: str | None = typer.Option(None, "--name", help="Replay name (default: from the time)."),
) -> None:
    """Re-send archived events with --from <= time < --to through the rules."""
    from ssmas.adops.events.envelope import EventError
    from ssmas.adops.events.rules import RuleFileError
    from ssmas.adops.events.service import event_rules, replay
    from ssmas.core.platform import build_platform

    since, until = _when(start, "--from"), _when(end, "--to", end=True)
    if until <= since:
        fail("--to must be after --from")
    if name is not None and not (0 < len(name) <= 100 and name.replace("-", "").isalnum()):
        fail(f"bad --name {name!r}: letters, digits and '-', up to 100")
    replay_name = name or f"replay-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    platform = build_platform(_settings())
    try:
        try:
            runtime = event_rules(platform)
        except RuleFileError as exc:
            fail(first_line(exc))
        if rule is not None and runtime.rules.get(rule) is None:
            fail(f"no rule {rule!r} in {runtime.rules.source}")
        total = runtime.archive.count(since, until)
        columns = (
            TextColumn("[bold]replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("", total=total)
            try:
                report = replay(
                    runtime,
                    since,
                    until,
                    name=replay_name,
                    rule=rule,
                    progress=lambda n: progress.advance(task, n),
                )
            except EventError as exc:
                fail(f"archive holds an invalid event: {first_line(exc)}")
    finally:
        platform.close()
    out.print(
        f"replay {replay_name}: {report.events} events, {report.matched} rule matches, "
        f"{report.delivered} delivered, {report.skipped} already done, {report.dead} dead-lettered"
    )
