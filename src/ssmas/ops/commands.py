"""``ssmas ops``: the local alerting stack, the alerts Alertmanager holds, silences (and, from
their own modules, ``autoscale`` and ``heal``).

``stack`` runs Prometheus and Alertmanager (Debian's binaries) against a running platform with
the repository's rules and routing; ``alerts`` lists what fires; ``silence`` mutes alerts for a
while. Bad input or a missing binary ends with one line and exit code 2.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ssmas.core.cli_errors import fail, first_line

if TYPE_CHECKING:
    from ssmas.settings import Settings

__all__ = ["ops_app"]

ops_app = typer.Typer(
    name="ops",
    help="Operations: the local Prometheus + Alertmanager stack, alerts and silences, "
    "autoscaling advice, the worker supervisor's breakers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _settings() -> Settings:
    from ssmas.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc))


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d`` as a timedelta; ``ValueError`` otherwise."""
    found = _DURATION.match(text.strip())
    if not found or float(found.group(1)) <= 0:
        raise ValueError(f"bad duration {text!r}: use a positive number with s, m, h or d")
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


def _alertmanager_url(option: str | None) -> str:
    url = option or _settings().ops.alertmanager_url
    if not url:
        fail("no Alertmanager: pass --alertmanager URL or set SSMAS_OPS_ALERTMANAGER_URL")
    return url


@ops_app.command()
def stack(
    target: list[str] = typer.Option(
        None, "--target", help="host:port of a platform process to scrape (repeatable)."
    ),
    rules: Path = typer.Option(
        Path("deploy/prometheus/rules"), "--rules", help="Folder of Prometheus rule files."
    ),
    alertmanager_config: Path = typer.Option(
        Path("deploy/alertmanager/alertmanager.yml"),
        "--alertmanager-config",
        help="Alertmanager configuration file.",
    ),
    prometheus_port: int = typer.Option(9090, min=1, max=65535, help="Prometheus's port."),
    alertmanager_port: int = typer.Option(9093, min=1, max=65535, help="Alertmanager's port."),
    scrape_interval: str = typer.Option("15s", help="How often to scrape the platform."),
    evaluation_interval: str = typer.Option("15s", help="How often to evaluate the rules."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Configuration and storage (default <data_dir>/ops-stack)."
    ),
    run_for: str | None = typer.Option(
        None, "--for", help="Stop after this long (e.g. 30s); default: until Ctrl-C."
    ),
) -> None:
    """Run Prometheus and Alertmanager locally against the platform, with its rules."""
    from ssmas.ops.stack import AlertStack, StackError, StackSettings

    try:
        scrape_s = parse_duration(scrape_interval).total_seconds()
        evaluate_s = parse_duration(evaluation_interval).total_seconds()
        stop_after = parse_duration(run_for).total_seconds() if run_for else None
    except ValueError as exc:
        fail(first_line(exc))
    if not rules.is_dir():
        fail(f"{rules} is not a folder of rule files (run from the repository or pass --rules)")
    rule_files = sorted([*rules.glob("*.yml"), *rules.glob("*.yaml")])
    if not rule_files:
        fail(f"{rules} holds no .yml rule file")
    settings = _settings()
    targets = target or [f"{settings.host}:{settings.port}"]
    for item in targets:
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            fail(f"bad --target {item!r}: use host:port")
    try:
        alert_stack = AlertStack(
            StackSettings(
                targets=targets,
                rule_files=rule_files,
                alertmanager_config=alertmanager_config,
                workdir=workdir or settings.data_dir / "ops-stack",
                scrape_interval_s=scrape_s,
                evaluation_interval_s=evaluate_s,
                prometheus_port=prometheus_port,
                alertmanager_port=alertmanager_port,
            )
        )
        alert_stack.start()
    except StackError as exc:
        fail(first_line(exc))
    typer.echo(
        f"Prometheus {alert_stack.prometheus_url} (scraping {', '.join(targets)}, "
        f"{len(rule_files)} rule files), Alertmanager {alert_stack.alertmanager_url}; "
        f"set SSMAS_OPS_ALERTMANAGER_URL={alert_stack.alertmanager_url} for the dashboard.",
        err=True,
    )
    stopped = threading.Event()
    # SIGTERM (a supervisor, `timeout`) stops the two processes as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    deadline = None if stop_after is None else time.monotonic() + stop_after
    try:
        while not stopped.wait(0.5):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not alert_stack.running():
                fail(f"a process of the stack exited: {alert_stack.log('prometheus')}")
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        alert_stack.stop()
    typer.echo("stopped Prometheus and Alertmanager", err=True)


@ops_app.command()
def alerts(
    alertmanager: str | None = typer.Option(None, "--alertmanager", help="Alertmanager URL."),
) -> None:
    """List the alerts Alertmanager holds, most severe first."""
    from ssmas.ops.alerts import AlertmanagerClient, AlertmanagerError

    client = AlertmanagerClient(_alertmanager_url(alertmanager))
    try:
        found = client.alerts()
    except AlertmanagerError as exc:
        fail(first_line(exc))
    if not found:
        out.print("no alert is firing")
        return
    table = Table("severity", "alert", "since", "summary")
    for alert in found:
        since = alert.starts_at.strftime("%Y-%m-%d %H:%M:%S") if alert.starts_at else ""
        table.add_row(alert.severity, alert.name, since, alert.summary)
    out.print(table)


@ops_app.command()
def silence(
    matchers: list[str] = typer.Argument(..., help="Label matchers: alertname=X, job=~ssmas.*"),
    duration: str = typer.Option("1h", "--for", help="How long to mute (e.g. 30m, 2h)."),
    comment: str = typer.Option("", "--comment", help="Why (shown in Alertmanager)."),
    alertmanager: str | None = typer.Option(None, "--alertmanager", help="Alertmanager URL."),
) -> None:
    """Mute the alerts matching every matcher for a while; prints the silence's id."""
    from ssmas.ops.alerts import AlertmanagerClient, AlertmanagerError, parse_matchers

    try:
        length = parse_duration(duration)
        parse_matchers(matchers)
    except ValueError as exc:
        fail(first_line(exc))
    client = AlertmanagerClient(_alertmanager_url(alertmanager))
    try:
        silence_id = client.silence(matchers, duration=length, comment=comment)
    except (AlertmanagerError, ValueError) as exc:
        fail(first_line(exc))
    out.print(silence_id)


def _add_subcommands() -> None:
    from ssmas.ops.autoscale.commands import autoscale_app
    from ssmas.ops.healing.commands import heal_app

    ops_app.add_typer(autoscale_app, name="autoscale")
    ops_app.add_typer(heal_app, name="heal")


_add_subcommands()
