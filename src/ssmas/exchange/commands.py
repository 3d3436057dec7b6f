"""``ssmas exchange``: simulate to the lake, run live, inject faults, aggregate, turn knobs.

Commands translate arguments, call a service and print the outcome; bad input exits with code 2
and a one-line message on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ssmas.core.cli_errors import fail as _fail
from ssmas.exchange.faults import FaultError
from ssmas.exchange.knobs import ControlPlaneError

exchange_app = typer.Typer(
    name="exchange",
    help="Ad exchange simulator, fault injection and the Parquet data lake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


@contextmanager
def _clean_errors() -> Iterator[None]:
    try:
        yield
    except (FaultError, ControlPlaneError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc).splitlines()[0])
    except PermissionError as exc:
        _fail(f"permission denied: {exc.filename or exc}")


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"bad date {text!r}: use YYYY-MM-DD")


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"bad time {text!r}: use an ISO-8601 timestamp like 2024-10-22T14:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        _fail(f"cannot write to {path}: {exc.strerror or exc}")
    return path


def _settings() -> Any:
    from ssmas.settings import get_settings

    return get_settings()


@exchange_app.command()
def simulate(
    start: str = typer.Option(..., help="First day, YYYY-MM-DD (UTC)."),
    days: int = typer.Option(1, help="Number of days."),
    impressions_per_day: str = typer.Option("1M", help="Requests a day: 50M, 2.5k, 100000."),
    out_dir: Path = typer.Option(..., "--out", help="Lake root directory."),
    seed: int = typer.Option(42, help="World and traffic seed."),
    scenario: list[str] = typer.Option(
        [], help="Fault: kind[,entity=X][,at=HH:MM][,minutes=N][,severity=F]; repeatable."
    ),
    workers: int = typer.Option(1, help="Worker processes (hours run in parallel)."),
    aggregate: bool = typer.Option(True, help="Build hourly_stats and daily_metrics after."),
) -> None:
    """Simulate days of traffic into the Parquet lake, with a progress bar."""
    from ssmas.exchange.faults import parse_scenario
    from ssmas.exchange.lake import aggregate_day
    from ssmas.exchange.services import parse_volume
    from ssmas.exchange.simulate import SimulationConfig, expected_rows, simulate_to_lake
    from ssmas.exchange.world import build_world

    first = _parse_date(start)
    if days < 1:
        _fail("--days must be at least 1")
    if workers < 1:
        _fail("--workers must be at least 1")
    with _clean_errors():
        volume = parse_volume(impressions_per_day)
        world = build_world(seed)
        faults = tuple(parse_scenario(world, spec, day=first) for spec in scenario)
        config = SimulationConfig(
            start=first,
            days=days,
            impressions_per_day=volume,
            seed=seed,
            faults=faults,
            workers=workers,
        )
    root = _writable_dir(out_dir)
    columns = (
        TextColumn("[bold]simulate"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress, _clean_errors():
        task = progress.add_task("rows", total=expected_rows(config))
        report = simulate_to_lake(
            config, root, progress=lambda rows, _at: progress.advance(task, rows)
        )
        progress.update(task, total=report.rows, completed=report.rows)
    if aggregate:
        with _clean_errors():
            for d in range(days):
                aggregate_day(root, first + timedelta(days=d))
    out.print(
        f"wrote {report.rows:,} impressions ({report.filled:,} filled, "
        f"{report.revenue_eur:,.2f} EUR) to {root}"
    )


@exchange_app.command("aggregate")
def aggregate_cmd(
    out_dir: Path = typer.Option(..., "--out", help="Lake root directory."),
    day: str | None = typer.Option(None, help="Day to aggregate (default: every raw day)."),
) -> None:
    """Build aggregated/hourly_stats and aggregated/daily_metrics through DuckDB."""
    from ssmas.exchange.lake import aggregate_day, raw_days

    days = [_parse_date(day)] if day else raw_days(out_dir)
    if not days:
        _fail(f"no raw impressions under {out_dir}")
    with _clean_errors():
        for d in days:
            counts = aggregate_day(out_dir, d)
            out.print(f"{d.isoformat()}: {counts['hourly_rows']:,} hourly rows")


@exchange_app.command()
def run(
    speed: float = typer.Option(60.0, help="Simulated minutes per real minute."),
    minutes: int | None = typer.Option(None, help="Stop after this many minutes."),
    seed: int = typer.Option(42, help="World seed."),
    impressions_per_day: str = typer.Option("10M", help="Requests a day in live mode."),
    start: str | None = typer.Option(None, help="First simulated minute (default: now)."),
) -> None:
    """Run the exchange live: one simulated minute per tick, metrics on the bus."""
    from ssmas.exchange.live import run_live
    from ssmas.exchange.services import parse_volume

    if speed <= 0:
        _fail("--speed must be positive")
    if minutes is not None and minutes < 1:
        _fail("--minutes must be at least 1")
    with _clean_errors():
        volume = parse_volume(impressions_per_day)
    first = _parse_time(start)
    try:
        with _clean_errors():
            report = run_live(
                _settings(),
                speed=speed,
                minutes=minutes,
                seed=seed,
                impressions_per_day=volume,
                start=first,
            )
    except KeyboardInterrupt:
        out.print("stopped")
        return
    out.print(f"simulated {report.minutes} minutes, published {report.points} metric points")


@exchange_app.command()
def inject(
    scenario: str = typer.Argument(..., help="Fault kind, e.g. partner_outage."),
    entity: str | None = typer.Option(None, help="Target (default: the biggest one)."),
    at: str | None = typer.Option(None, help="Start (default: the live simulator's next minute)."),
    minutes: float = typer.Option(30.0, help="Duration in simulated minutes."),
    severity: float = typer.Option(1.0, help="Strength, 1 = the reference fault."),
    seed: int = typer.Option(42, help="World seed (must match the live simulator)."),
) -> None:
    """Schedule a fault in the live simulator and record its ground-truth label."""
    from ssmas.exchange.faults import FAULT_KINDS
    from ssmas.exchange.services import inject_fault

    if scenario not in FAULT_KINDS:
        _fail(f"unknown scenario {scenario!r}; choose from {', '.join(FAULT_KINDS)}")
    start = _parse_time(at)
    with _clean_errors():
        fault = inject_fault(
            _settings(),
            scenario,
            entity=entity,
            start=start,
            minutes=minutes,
            severity=severity,
            seed=seed,
        )
    out.print(json.dumps(fault.label(), sort_keys=True))


@exchange_app.command()
def control(
    set_change: str | None = typer.Option(
        None, "--set", help='JSON change, e.g. {"capacity_units": 20}'
    ),
    actor: str = typer.Option("cli", help="Who makes the change."),
    reason: str = typer.Option("manual change", help="Why."),
    seed: int = typer.Option(42, help="World seed (entity names are checked against it)."),
) -> None:
    """Show the control plane (current knobs and recent versions) or apply a change."""
    from ssmas.exchange.services import change_control, open_stores

    settings = _settings()
    with _clean_errors():
        if set_change is not None:
            try:
                change = json.loads(set_change)
            except json.JSONDecodeError:
                _fail("--set must be a JSON object")
            if not isinstance(change, dict):
                _fail("--set must be a JSON object")
            version = change_control(settings, change, actor=actor, reason=reason, seed=seed)
            out.print(f"version {version.version} by {version.actor}: {reason}")
            return
        plane, _ = open_stores(settings)
        _print_versions(plane.history(10), out.print)


def _print_versions(versions: list[Any], emit: Callable[[str], None]) -> None:
    current = versions[0]
    emit(json.dumps(current.state.model_dump(mode="json"), sort_keys=True))
    for v in versions:
        emit(f"v{v.version} {v.created_at.isoformat()} {v.actor}: {v.reason}")


@exchange_app.command()
def plots(
    out_dir: Path = typer.Option(Path("docs/img"), "--out", help="Where the PNGs go."),
    reference: Path = typer.Option(
        Path("../shared/data/ipinyou/train.txt"), help="Real iPinYou prices (train.txt)."
    ),
    seed: int = typer.Option(42, help="World and traffic seed."),
) -> None:
    """Draw the realism plots of docs/exchange.md (prices, floor sweep, seasonality)."""
    from ssmas.exchange.plots import render_realism_plots

    root = _writable_dir(out_dir)
    with _clean_errors():
        result = render_realism_plots(root, reference, seed=seed)
    out.print(f"KS vs iPinYou {result['ks']:.4f} on {result['impressions']:,} impressions")
    for path in result["paths"].values():
        out.print(str(path))
