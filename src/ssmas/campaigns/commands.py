"""``ssmas campaigns``: forecast a ``ds,y`` CSV with calibrated intervals, backtest the forecaster.

Commands translate arguments, call a service and print the outcome; the forecast goes to stdout
(or ``--out``), summaries and progress to stderr; bad input exits with code 2 and one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ssmas.campaigns.quality_commands import quality_app
from ssmas.core.cli_errors import fail as _fail
from ssmas.core.cli_errors import first_line
from ssmas.core.progress import progress_bar

if TYPE_CHECKING:
    from ssmas.campaigns.forecast import Evaluation, ForecastResult, Series
    from ssmas.campaigns.forecast.backtest import Progress as ProgressFn

__all__ = ["campaigns_app"]

campaigns_app = typer.Typer(
    name="campaigns",
    help="Campaign intelligence: conversion forecasts with backtests and calibrated intervals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()
campaigns_app.add_typer(quality_app)
CsvOpt = typer.Option(..., "--csv", help="CSV with columns ds (date/time) and y (number).")
LevelOpt = typer.Option(80.0, "--level", help="Prediction interval level in percent, (0, 100).")
RuleOpt = typer.Option(
    "top2", "--rule", help="Ensemble rule: top2, median, inverse_mae, best, stack or auto."
)
FastOpt = typer.Option(False, "--fast", help="Leave AutoARIMA out (the slowest member).")


@contextmanager
def _clean_errors() -> Iterator[None]:
    try:
        yield
    except (ValueError, FileNotFoundError) as exc:
        _fail(first_line(exc))


def _load(path: Path) -> Series:
    from ssmas.campaigns.forecast import prepare_series, read_series_csv

    return prepare_series(read_series_csv(path))


@contextmanager
def _series_job(csv: Path, level: float, title: str) -> Iterator[tuple[Series, ProgressFn]]:
    """Check the level, read the series and show progress; a ValueError inside is one line."""
    _check_level(level)
    with _clean_errors():
        series = _load(csv)
        with progress_bar(title, err) as bar:
            yield series, bar.update


def _check_level(level: float) -> None:
    if not 0 < level < 100:
        _fail(f"--level must be between 0 and 100 (exclusive), got {level:g}")


def _summary(series: Series, result: ForecastResult, horizon: int) -> None:
    last = series.ds[-1]
    after = f"{last:%Y-%m-%d}" if last == last.normalize() else f"{last:%Y-%m-%d %H:%M}"
    table = Table(title=f"{horizon} steps of {series.freq} after {after}, rule {result.rule}")
    table.add_column("member")
    table.add_column("weight", justify="right")
    table.add_column("backtest MAE", justify="right")
    for name, weight in result.weights.items():
        mae = result.member_mae.get(name)
        shown = "median" if result.rule == "median" else f"{weight:.3f}"
        table.add_row(name, shown, f"{mae:.4g}" if mae is not None else "-")
    err.print(table)
    if result.calibrated:
        line = (
            f"{result.level:g}% intervals calibrated on {result.windows} backtest windows "
            f"{result.step} steps apart"
        )
        if result.backtest_mae is not None and result.naive_mae:
            ratio = result.backtest_mae / result.naive_mae
            line += (
                f"; ensemble backtest MAE {result.backtest_mae:.4g}, {ratio:.3f} of "
                f"{result.members[0]}'s"
            )
    else:
        line = f"{result.level:g}% intervals not calibrated"
    err.print(line, markup=False, highlight=False, soft_wrap=True)


@campaigns_app.command()
def forecast(
    csv: Path = CsvOpt,
    horizon: int = typer.Option(..., "--horizon", help="Steps to forecast (at least 1)."),
    level: float = LevelOpt,
    out_path: Path | None = typer.Option(None, "--out", help="Write the CSV here, not stdout."),
    rule: str = RuleOpt,
    fast: bool = FastOpt,
) -> None:
    """Forecast a ds,y series: CSV ds,yhat,yhat_lower,yhat_upper on stdout or --out."""
    from ssmas.campaigns.forecast import forecast_series

    if horizon < 1:
        _fail(f"--horizon must be at least 1, got {horizon}")
    with _series_job(csv, level, "forecast") as (series, say):
        result = forecast_series(
            series, horizon, level, rule=rule, with_arima=not fast, progress=say
        )
    text = result.frame.to_csv(index=False, float_format="%.10g")
    if out_path is None:
        typer.echo(text, nl=False)
    else:
        try:
            out_path.write_text(text)
        except OSError as exc:
            _fail(f"cannot write {out_path}: {exc.strerror or exc}")
    _summary(series, result, horizon)
    for note in result.notes:
        err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if out_path is not None:
        err.print(f"wrote {len(result.frame)} rows to {out_path}", markup=False, highlight=False)


def _backtest_table(evaluation: Evaluation) -> Table:
    table = Table(
        title=(
            f"rolling-origin backtest: {evaluation.windows} origins every {evaluation.step}, "
            f"horizon {evaluation.horizon}"
        )
    )
    table.add_column("forecaster")
    table.add_column("MAE", justify="right")
    table.add_column(f"MAE ÷ {evaluation.naive_name}", justify="right")
    table.add_column(f"{evaluation.level:g}% coverage", justify="right")
    naive = evaluation.naive_mae

    def ratio(value: float) -> str:
        return f"{value / naive:.3f}" if naive > 0 and math.isfinite(value) else "-"

    for name, mae in evaluation.rule_mae.items():
        cover = evaluation.rule_coverage[name]
        table.add_row(f"ensemble ({name})", f"{mae:.4g}", ratio(mae), f"{100 * cover:.1f}%")
    for name, mae in evaluation.member_mae.items():
        table.add_row(name, f"{mae:.4g}", ratio(mae), "")
    return table


@campaigns_app.command()
def backtest(
    csv: Path = CsvOpt,
    horizon: int = typer.Option(30, "--horizon", help="Steps ahead per origin."),
    step: int = typer.Option(30, "--step", help="Steps between origins."),
    windows: int = typer.Option(12, "--windows", help="Scored origins."),
    calibration: int = typer.Option(
        12, "--calibration-windows", help="Earlier windows each origin learns weights from."
    ),
    level: float = LevelOpt,
    rule: str = RuleOpt,
    fast: bool = FastOpt,
) -> None:
    """Score the forecaster: MAE ÷ the seasonal naive's (MASE vs naive) and interval coverage."""
    from ssmas.campaigns.forecast import evaluate_series

    for flag, value in (("--horizon", horizon), ("--step", step), ("--windows", windows)):
        if value < 1:
            _fail(f"{flag} must be at least 1, got {value}")
    if calibration < 2:
        _fail(f"--calibration-windows must be at least 2, got {calibration}")
    with _series_job(csv, level, "backtest") as (series, say):
        evaluation = evaluate_series(
            series,
            horizon,
            step=step,
            windows=windows,
            calibration_windows=calibration,
            level=level,
            rule=rule,
            with_arima=not fast,
            progress=say,
        )
    out.print(_backtest_table(evaluation))
    out.print(
        f"MASE vs naive ({evaluation.naive_name}): {evaluation.mase_vs_naive:.3f}; "
        f"{level:g}% interval coverage: {100 * evaluation.coverage:.1f}%",
        highlight=False,
    )


def _mount_data_commands() -> None:
    from ssmas.campaigns.commands_tenants import import_command, tenant_app

    campaigns_app.add_typer(tenant_app)
    campaigns_app.command("import")(import_command)


_mount_data_commands()
