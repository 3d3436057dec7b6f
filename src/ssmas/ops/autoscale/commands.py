"""``ssmas ops autoscale recommend | backtest | export``: the advisor from the command line.

The load history is the exchange's simulated traffic (``--days`` days ending today, UTC) unless
``--history`` names a ``service,hour,rps`` CSV or ``--from-prometheus`` a Prometheus that holds
the platform's ``ssmas_api_requests_total`` (the ``--days`` days before the current hour).
Bad input ends with one line and exit code 2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ssmas.core.cli_errors import fail, first_line
from ssmas.ops.autoscale.advisor import Advice, backtest, recommend
from ssmas.ops.autoscale.forecast import ForecastError
from ssmas.ops.autoscale.traffic import (
    SERVICES,
    LoadHistory,
    read_csv,
    read_prometheus,
    simulate_load,
)

__all__ = ["autoscale_app"]

autoscale_app = typer.Typer(
    name="autoscale",
    help="Predictive autoscaling: forecast load, advise replicas, export HPA / KEDA, backtest.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()

_HISTORY = typer.Option(None, "--history", help="CSV of service,hour,rps (default: simulated).")
_FROM_PROMETHEUS = typer.Option(
    None,
    "--from-prometheus",
    help="Prometheus URL whose ssmas_api_requests_total gives the history (default: simulated).",
)
_SERVICE = typer.Option(None, "--service", help="Only this service (repeatable).")
_DAYS = typer.Option(28, "--days", min=7, max=400, help="Days of simulated history.")
_VOLUME = typer.Option(
    30_000_000.0, "--volume", min=1.0, max=1e10, help="Simulated ad requests per day."
)
_SEED = typer.Option(7, "--seed", help="Seed of the simulated traffic.")
_LEVEL = typer.Option(0.95, "--level", min=0.5, max=0.999, help="Prediction interval level.")


def _histories(
    history: Path | None,
    days: int,
    volume: float,
    seed: int,
    end: date | None = None,
    prometheus: str | None = None,
) -> dict[str, LoadHistory]:
    if prometheus is not None:
        if history is not None:
            fail("give --history or --from-prometheus, not both")
        if not prometheus.startswith(("http://", "https://")):
            fail(f"bad --from-prometheus {prometheus!r}: an http(s) URL")
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        try:
            return read_prometheus(prometheus, days=days, end=now)
        except ValueError as exc:
            fail(first_line(exc))
    if history is not None:
        if not history.is_file():
            fail(f"{history} is not a file")
        try:
            found = read_csv(history)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            fail(first_line(exc))
        known = {s.name for s in SERVICES}
        unknown = sorted(set(found) - known)
        if unknown:
            fail(f"unknown service {unknown[0]!r} in {history}: one of {', '.join(sorted(known))}")
        return found
    last = end or datetime.now(UTC).date()
    return simulate_load(last - timedelta(days=days - 1), days, requests_per_day=volume, seed=seed)


def _selected(names: list[str] | None, histories: dict[str, LoadHistory]) -> list[str]:
    known = [s.name for s in SERVICES if s.name in histories]
    if not names:
        return known
    for name in names:
        if name not in known:
            fail(f"unknown service {name!r}: one of {', '.join(known)}")
    return list(dict.fromkeys(names))


def advices(
    history: Path | None,
    services: list[str] | None,
    days: int,
    volume: float,
    seed: int,
    hours: int,
    level: float,
    prometheus: str | None = None,
) -> list[Advice]:
    """The advice of every selected service for the ``hours`` after its history."""
    histories = _histories(history, days, volume, seed, prometheus=prometheus)
    by_name = {s.name: s for s in SERVICES}
    try:
        return [
            recommend(by_name[name], histories[name], hours, level=level)
            for name in _selected(services, histories)
        ]
    except ForecastError as exc:
        fail(first_line(exc))


@autoscale_app.command("recommend")
def recommend_command(
    history: Path | None = _HISTORY,
    service: list[str] | None = _SERVICE,
    hours: int = typer.Option(24, "--hours", min=1, max=168, help="Hours to forecast."),
    days: int = _DAYS,
    volume: float = _VOLUME,
    seed: int = _SEED,
    level: float = _LEVEL,
    from_prometheus: str | None = _FROM_PROMETHEUS,
) -> None:
    """Forecast the next hours of each service and advise its replicas and concurrency."""
    for advice in advices(history, service, days, volume, seed, hours, level, from_prometheus):
        svc = advice.service
        table = Table(
            "hour (UTC)",
            "forecast rps",
            f"{advice.forecast.level:.0%} interval",
            "replicas",
            "concurrency",
            title=(
                f"{svc.name}: {svc.capacity_rps:g} rps per replica, "
                f"{advice.concurrency_per_replica} in flight per replica"
            ),
        )
        for hour in advice.hours:
            table.add_row(
                hour.hour.strftime("%a %Y-%m-%d %H:00"),
                f"{hour.point_rps:,.1f}",
                f"{hour.lower_rps:,.1f} - {hour.upper_rps:,.1f}",
                f"{hour.replicas}{' (capped)' if hour.capped else ''}",
                str(hour.concurrency),
            )
        out.print(table)


@autoscale_app.command("backtest")
def backtest_command(
    history: Path | None = _HISTORY,
    service: list[str] | None = _SERVICE,
    days: int = typer.Option(44, "--days", min=9, max=400, help="Days of simulated history."),
    warmup_days: int = typer.Option(
        14, "--warmup-days", min=7, max=365, help="Days before the first origin."
    ),
    horizon: int = typer.Option(24, "--horizon", min=1, max=168, help="Hours advised per origin."),
    volume: float = _VOLUME,
    seed: int = _SEED,
    level: float = _LEVEL,
    from_prometheus: str | None = _FROM_PROMETHEUS,
) -> None:
    """Rolling-origin backtest: how often the advice covered the load, at what over-provision."""
    histories = _histories(history, days, volume, seed, prometheus=from_prometheus)
    by_name = {s.name: s for s in SERVICES}
    table = Table("service", "hours", "cover %", "over-provision %", "MAPE %", "in interval %")
    for name in _selected(service, histories):
        try:
            result = backtest(
                by_name[name],
                histories[name],
                warmup_hours=warmup_days * 24,
                horizon=horizon,
                level=level,
            )
        except ValueError as exc:
            fail(f"{name}: {first_line(exc)}")
        table.add_row(
            name,
            str(result.hours),
            f"{result.cover_pct:.1f}",
            f"{result.overprovision_pct:.1f}",
            f"{result.mape_pct:.2f}",
            f"{result.interval_cover_pct:.1f}",
        )
    out.print(table)


@autoscale_app.command("export")
def export_command(
    kind: str = typer.Option("both", "--kind", help="hpa, keda or both."),
    out_path: Path | None = typer.Option(None, "--out", help="YAML file (default: stdout)."),
    prometheus: str | None = typer.Option(
        None, "--prometheus", help="Prometheus URL for KEDA (default SSMAS_OPS_PROMETHEUS_URL)."
    ),
    history: Path | None = _HISTORY,
    service: list[str] | None = _SERVICE,
    hours: int = typer.Option(168, "--hours", min=1, max=168, help="Hours of advice to fold."),
    days: int = _DAYS,
    volume: float = _VOLUME,
    seed: int = _SEED,
    level: float = _LEVEL,
    from_prometheus: str | None = _FROM_PROMETHEUS,
) -> None:
    """Write the advice as Kubernetes HorizontalPodAutoscalers and KEDA ScaledObjects."""
    from ssmas.ops.autoscale.export import export_yaml

    if kind not in {"hpa", "keda", "both"}:
        fail(f"bad --kind {kind!r}: hpa, keda or both")
    if prometheus is None:
        from ssmas.settings import SettingsError, get_settings

        try:
            prometheus = get_settings().ops.prometheus_url or "http://prometheus:9090"
        except SettingsError as exc:
            fail(str(exc))
    if not prometheus.startswith(("http://", "https://")):
        fail(f"bad --prometheus {prometheus!r}: an http(s) URL")
    found = advices(history, service, days, volume, seed, hours, level, from_prometheus)
    text = export_yaml(found, kind=kind, prometheus_url=prometheus)
    if out_path is None:
        typer.echo(text, nl=False)
        return
    try:
        out_path.write_text(text)
    except OSError as exc:
        fail(f"cannot write {out_path}: {first_line(exc)}")
    typer.echo(f"wrote {out_path}", err=True)
