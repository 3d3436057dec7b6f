"""``ssmas pricing``: import real auction logs, train, evaluate on a held-out log, simulate floors,
retrain, promote / roll back, list models, drift, prune the serving tables.

Commands translate arguments, call a service and print the outcome; bad input exits with code 2
and a one-line message on stderr.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ssmas.core.cli_errors import fail as _fail
from ssmas.core.cli_errors import first_line

if TYPE_CHECKING:
    from ssmas.core.registry import ModelVersionInfo
    from ssmas.settings import Settings

__all__ = ["pricing_app", "train_demo_model"]

pricing_app = typer.Typer(
    name="pricing",
    help="Predictive yield: CPM model training, floor simulation, retraining, model registry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
LakeOpt = typer.Option(..., "--lake", help="Lake root directory (written by ssmas exchange).")
FromOpt = typer.Option(..., "--from", help="First day, YYYY-MM-DD (UTC).")
ToOpt = typer.Option(..., "--to", help="Last day, YYYY-MM-DD (UTC), inclusive.")


def train_demo_model(
    settings: Settings, *, days: int = 3, impressions_per_day: int = 200_000
) -> ModelVersionInfo:
    """Simulate a small history, train the first model on it and register it (the demo's)."""
    from ssmas.pricing.demo_model import train_demo_model as run

    return run(settings, days=days, impressions_per_day=impressions_per_day)


@contextmanager
def _clean_errors() -> Iterator[None]:
    from ssmas.core.registry import RegistryError

    try:
        yield
    except (ValueError, RegistryError, OSError) as exc:
        _fail(first_line(exc))


@contextmanager
def _progress(title: str) -> Iterator[Any]:
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(title)
        yield lambda message: progress.update(task, description=f"{title}: {message}")


def _day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"bad {flag} {text!r}: use YYYY-MM-DD")


def _settings() -> Any:
    from ssmas.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as exc:
        _fail(str(exc))


def _registry() -> Any:
    from ssmas.core.registry import registry_from_settings

    return registry_from_settings(_settings())


def _metrics_table(title: str, metrics: dict[str, float]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        whole = abs(value) >= 1e5 or (key.endswith("_rows") and float(value).is_integer())
        table.add_row(key, f"{value:,.0f}" if whole else f"{value:,.4f}")
    return table


@pricing_app.command()
def train(
    lake: Path = LakeOpt,
    start: str | None = typer.Option(
        None, "--from", help="First day, YYYY-MM-DD (UTC); not needed for an imported lake."
    ),
    end: str | None = typer.Option(
        None, "--to", help="Last day, YYYY-MM-DD (UTC), inclusive; not needed for an imported lake."
    ),
    rounds: int | None = typer.Option(
        None, min=1, max=5000, help="Boosting rounds; default 60 (200 on an imported lake)."
    ),
    threads: int = typer.Option(1, min=1, max=64, help="XGBoost / DuckDB threads."),
    seed: int = typer.Option(0, help="Random seed."),
    train_fraction: float = typer.Option(1.0, help="Share of training rows used, (0, 1]."),
    register: bool = typer.Option(True, help="Register the model in the MLflow registry."),
    holdout: float = typer.Option(
        0.2, help="Imported lake: last share of rows held out for the printed evaluation, [0, 1)."
    ),
    save: Path | None = typer.Option(
        None, "--save", help="Imported lake: write the model here (for evaluate-log --model)."
    ),
    engine: str = typer.Option(
        "local", help="local (one process, DuckDB batches) or dask (xgboost.dask on a cluster)."
    ),
    scheduler: str | None = typer.Option(
        None,
        help="--engine dask: the scheduler's address (tcp://HOST:8786); default a local cluster.",
    ),
    workers: int = typer.Option(2, min=1, max=64, help="--engine dask: local cluster workers."),
) -> None:
    """Train a CPM model on the lake's days and register it (champion first, then challenger).

    On a lake written by `ssmas pricing import` it trains on the features the log has (and
    says which it lacks) instead; that model is saved with --save, not registered."""
    from ssmas.pricing.model.importers import read_marker

    if engine not in ("local", "dask"):
        _fail(f"bad --engine {engine!r}: use local or dask")
    if scheduler is not None and engine != "dask":
        _fail("--scheduler needs --engine dask")
    if read_marker(lake) is not None:
        if engine == "dask":
            _fail("--engine dask trains on a simulated lake; an imported lake trains locally")
        _train_imported(lake, holdout=holdout, rounds=rounds or 200, seed=seed, threads=threads,
                        save=save)  # fmt: skip
        return
    if start is None or end is None:
        _fail("--from and --to are required for a simulated lake")
    from ssmas.pricing.model.training import train_from_lake

    first, last = _day(start, "--from"), _day(end, "--to")
    if engine == "dask":
        _train_dask(lake, first, last, rounds=rounds or 60, seed=seed, register=register,
                    scheduler=scheduler, workers=workers)  # fmt: skip
        return
    with _clean_errors(), _progress("train") as say:
        result = train_from_lake(
            lake,
            first,
            last,
            registry=_registry() if register else None,
            params={"num_boost_round": rounds or 60},
            seed=seed,
            threads=threads,
            train_fraction=train_fraction,
            progress=say,
        )
    out.print(_metrics_table(f"CPM model on {first} → {last} ({result.split_kind} split)",
                             result.metrics))  # fmt: skip
    if result.info is not None:
        out.print(f"registered pricing-cpm v{result.info.version} as {result.alias}")


def _train_dask(
    lake: Path,
    first: date,
    last: date,
    *,
    rounds: int,
    seed: int,
    register: bool,
    scheduler: str | None,
    workers: int,
) -> None:
    from ssmas.pricing.model.distributed import DaskUnavailable, train_and_register_on_dask

    try:
        with _clean_errors(), _progress("train (dask)") as say:
            result = train_and_register_on_dask(
                lake,
                first,
                last,
                registry=_registry() if register else None,
                scheduler=scheduler,
                workers=workers,
                params={"num_boost_round": rounds},
                seed=seed,
                progress=say,
            )
    except DaskUnavailable as exc:
        _fail(str(exc))
    where = scheduler or f"local cluster, {workers} workers"
    out.print(_metrics_table(f"CPM model on {first} → {last} (dask: {where})", result.metrics))
    if result.info is not None:
        out.print(f"registered pricing-cpm v{result.info.version} as {result.alias}")


def _train_imported(
    lake: Path, *, holdout: float, rounds: int, seed: int, threads: int, save: Path | None
) -> None:
    from ssmas.pricing.model.importers import read_imported_lake
    from ssmas.pricing.model.log_model import evaluate_log_model, fit_log_model, split_by_order

    if not 0.0 <= holdout < 1.0:
        _fail(f"--holdout must be in [0, 1), got {holdout}")
    with _clean_errors(), _progress("train") as say:
        say("reading the imported lake")
        table = read_imported_lake(lake)
        train_rows, test_rows = split_by_order(table, 1.0 - holdout)
        say(f"training on {train_rows.num_rows:,} rows")
        model = fit_log_model(train_rows, rounds=rounds, seed=seed, threads=threads)
        metrics = evaluate_log_model(model, test_rows) if holdout > 0 else {}
        if save is not None:
            model.save(save)
    _print_features(model.features, model.absent)
    if metrics:
        title = f"Price model on {lake} (last {holdout:.0%} of rows held out)"
        out.print(_metrics_table(title, metrics))
    if save is not None:
        out.print(f"saved the model to {save}")


def _print_features(used: list[str], absent: list[str]) -> None:
    used_text = ", ".join(used) or "none (predicts the training mean)"
    out.print(f"features used: {used_text}", soft_wrap=True)
    out.print(f"model features absent from this log: {', '.join(absent) or 'none'}", soft_wrap=True)


def _print_import_report(report: Any, path: Path) -> None:
    table = Table(title=f"{report.format} log {path}")
    table.add_column("rows")
    table.add_column("count", justify="right")
    table.add_row("read", f"{report.rows_read:,}")
    table.add_row("kept", f"{report.rows_kept:,}")
    table.add_row("rejected", f"{report.rows_rejected:,}")
    for reason, count in report.reasons.most_common():
        table.add_row(f"  {reason}", f"{count:,}")
    out.print(table)
    for rejection in report.rejected[:5]:
        out.print(f"  line {rejection.line}: {rejection.reason}", markup=False, highlight=False)
    if report.rows_rejected > 5:
        out.print(f"  ... {report.rows_rejected - 5:,} more (--rejects FILE lists them)")


@contextmanager
def _byte_progress(title: str, paths: list[Path]) -> Iterator[Any]:
    from rich.progress import BarColumn, DownloadColumn

    total = sum(p.stat().st_size for p in paths if p.is_file())
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(title, total=total or None)
        yield lambda n: progress.advance(task, n)


def _write_rejects(path: Path | None, reports: list[Any]) -> None:
    if path is None:
        return
    import json

    body = [r.to_dict() for r in reports]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body if len(body) > 1 else body[0], indent=2) + "\n")


FormatOpt = typer.Option(..., "--format", help="Log format: ipinyou, openrtb or prebid.")
RejectsOpt = typer.Option(
    None, "--rejects", help="Write the report with the rejected lines (up to 1000) as JSON."
)


@pricing_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="The auction log (see docs/pricing.md for formats)."),
    fmt: str = FormatOpt,
    lake: Path = typer.Option(..., "--lake", help="New lake directory to write."),
    rejects: Path | None = RejectsOpt,
) -> None:
    """Import a real auction log into a lake (Parquet hour partitions), rejecting bad rows."""
    from ssmas.pricing.model.importers import FORMATS, import_log

    if fmt not in FORMATS:
        _fail(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not file.is_file():
        _fail(f"no such file: {file}")
    with _clean_errors(), _byte_progress(f"import {file.name}", [file]) as advance:
        report, written = import_log(fmt, file, lake, advance)
    _print_import_report(report, file)
    _write_rejects(rejects, [report])
    out.print(f"lake columns this log fills: {', '.join(report.filled_columns)}", soft_wrap=True)
    lacks = ", ".join(report.missing_columns) or "none"
    out.print(f"lake columns it lacks: {lacks}", soft_wrap=True)
    out.print(f"wrote {report.rows_kept:,} rows in {len(written)} hour partitions under {lake}")


@pricing_app.command("evaluate-log")
def evaluate_log(
    fmt: str = FormatOpt,
    train_file: Path | None = typer.Option(None, "--train", help="Log to train on."),
    test_file: Path | None = typer.Option(
        None, "--test", help="Held-out log; default: the last 20% of --train's rows."
    ),
    model_path: Path | None = typer.Option(
        None, "--model", help="A model `ssmas pricing train --save` wrote, instead of --train."
    ),
    rounds: int = typer.Option(200, min=1, max=5000, help="Boosting rounds."),
    threads: int = typer.Option(1, min=1, max=64, help="XGBoost threads."),
    seed: int = typer.Option(0, help="Random seed."),
    out_path: Path | None = typer.Option(None, "--out", help="Write the figures as JSON."),
    rejects: Path | None = RejectsOpt,
) -> None:
    """Train on one log and score another: RMSE against the mean and per-exchange baselines."""
    import json

    from ssmas.pricing.model.importers import FORMATS, parse_log
    from ssmas.pricing.model.log_model import (
        LogModel,
        evaluate_log_model,
        fit_log_model,
        split_by_order,
    )

    if fmt not in FORMATS:
        _fail(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    if (train_file is None) == (model_path is None):
        _fail("give exactly one of --train FILE and --model PATH")
    if model_path is not None and test_file is None:
        _fail("--model needs --test FILE")
    for path in (train_file, test_file, model_path):
        if path is not None and not path.is_file():
            _fail(f"no such file: {path}")
    files = [p for p in (train_file, test_file) if p is not None]
    reports = []
    with _clean_errors(), _byte_progress("evaluate-log", files) as advance:
        if train_file is not None:
            train_rows, report = parse_log(fmt, train_file, advance)
            reports.append(report)
            if test_file is None:
                train_rows, test_rows = split_by_order(train_rows, 0.8)
            model = fit_log_model(train_rows, rounds=rounds, seed=seed, threads=threads)
        else:
            assert model_path is not None
            model = LogModel.load(model_path)
        if test_file is not None:
            test_rows, test_report = parse_log(fmt, test_file, advance)
            reports.append(test_report)
        metrics = evaluate_log_model(model, test_rows)
    for report, path in zip(reports, files, strict=False):
        _print_import_report(report, path)
    _print_features(model.features, model.absent)
    figures: dict[str, Any] = {**metrics}
    if fmt == "ipinyou":
        figures["ipinyou_rmse_ratio_vs_mean"] = metrics["rmse_ratio_vs_mean"]
        figures["ipinyou_rmse_ratio_vs_exchange_mean"] = metrics["rmse_ratio_vs_exchange_mean"]
    out.print(_metrics_table(f"{fmt} price model, held-out rows", figures))
    _write_rejects(rejects, reports)
    if out_path is not None:
        body = {
            "format": fmt,
            "train": str(train_file) if train_file else None,
            "model": str(model_path) if model_path else None,
            "test": str(test_file) if test_file else "last 20% of --train",
            "features": model.features,
            "absent_features": model.absent,
            "rows_rejected": {
                str(p): r.rows_rejected for r, p in zip(reports, files, strict=False)
            },
            **figures,
        }
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(body, indent=2) + "\n")
        out.print(f"wrote {out_path}")


def _lake_and_days(
    lake: Path | None, start: str | None, end: str | None
) -> tuple[Path, date, date]:
    """``--lake`` or the platform's (the retraining worker's: ``<data_dir>/lake``, else the
    demo's), and ``--from`` / ``--to`` or the lake's last three days; exit 2 without a lake."""
    from ssmas.exchange import lake_days as raw_days
    from ssmas.pricing.lifecycle.retraining import retrain_config

    if lake is None:
        lake = retrain_config(_settings()).lake
        if not (lake.exists() and raw_days(lake)):
            _fail(
                f"no lake with impressions at {lake}: run `ssmas demo` first (it simulates a "
                "history) or pass --lake DIR (a lake `ssmas exchange simulate --out DIR` wrote)"
            )
    days = raw_days(lake) if lake.exists() else []
    if end is None and not days:
        _fail(f"no impressions in the lake at {lake}")
    last = _day(end, "--to") if end else days[-1]
    first = _day(start, "--from") if start else ([d for d in days if d <= last][-3:] or [last])[0]
    return lake, first, last


@pricing_app.command("simulate-floors")
def simulate_floors_command(
    lake: Path | None = typer.Option(
        None, "--lake", help="Lake root; default: <data_dir>/lake, else the demo's lake."
    ),
    start: str | None = typer.Option(
        None, "--from", help="First day, YYYY-MM-DD; default: 2 lake days before --to."
    ),
    end: str | None = typer.Option(
        None, "--to", help="Last day (held out), YYYY-MM-DD; default: the lake's last day."
    ),
    version: str | None = typer.Option(
        None, help="Registered model (number or alias); default: train one on these days."
    ),
    control_share: float = typer.Option(0.1, help="Unfloored control share, [0, 1)."),
    boot: int = typer.Option(2000, min=100, max=100_000, help="Bootstrap replicates."),
    rounds: int = typer.Option(60, min=1, max=5000, help="Boosting rounds (fresh model)."),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Default: <data_dir>/pricing/floorsim."
    ),
) -> None:
    """Replay the last day under no / best static / seed dynamic / tuned dynamic floors."""
    from ssmas.pricing.floors.simulation import simulate_floors
    from ssmas.pricing.floors.simulation_report import (
        floorsim_dir,
        render_control,
        render_table,
        write_report,
    )
    from ssmas.pricing.model.bundle import load_from_registry
    from ssmas.pricing.model.training import train_from_lake

    if not 0.0 <= control_share < 1.0:
        _fail(f"--control-share must be in [0, 1), got {control_share}")
    with _clean_errors():
        lake, first, last = _lake_and_days(lake, start, end)
    with _clean_errors(), _progress("simulate-floors") as say:
        if version is not None:
            model = load_from_registry(_registry(), version)
        else:
            say("training a model on the same days (the last one is held out)")
            fresh = train_from_lake(lake, first, last, params={"num_boost_round": rounds})
            if fresh.split_kind != "days":
                _fail("a fresh model needs at least 3 days (train, calibration, held-out day)")
            model = fresh.model
        say("replaying the held-out day")
        report = simulate_floors(lake, first, last, model, control_share=control_share, n_boot=boot)
        json_path, png_path = write_report(report, out_dir or floorsim_dir(_settings()))
    out.print(render_table(report))
    control = render_control(report)
    if control is not None:
        out.print(control)
    out.print(f"wrote {json_path} and {png_path}")


@pricing_app.command()
def retrain(
    lake: Path = LakeOpt,
    force: bool = typer.Option(False, "--force", help="Retrain whatever the drift."),
    window_days: int = typer.Option(2, min=1, max=60, help="Freshest days to train on."),
    min_improvement: float = typer.Option(
        0.0, help="Relative offline RMSE gain needed to deploy the challenger."
    ),
    rounds: int = typer.Option(60, min=1, max=5000, help="Boosting rounds."),
) -> None:
    """Run the retraining workflow once: drift, price level and error → retrain → evaluate →
    deploy a better model as challenger (promotion needs live evidence or approval)."""
    from ssmas.core.platform import build_platform
    from ssmas.pricing.lifecycle.retraining import (
        RetrainBusy,
        RetrainConfig,
        RetrainDeps,
        leading,
        run_retrain,
    )

    if not 0.0 <= min_improvement < 1.0:
        _fail(f"--min-improvement must be in [0, 1), got {min_improvement}")
    settings = _settings()
    with _clean_errors(), _progress("retrain") as say:
        config = RetrainConfig(
            lake=lake,
            window_days=window_days,
            min_improvement=min_improvement,
            params={"num_boost_round": rounds},
        )
        say("checking drift")
        platform = build_platform(settings)
        try:
            deps = RetrainDeps(_registry(), platform.session_factory, platform.bus)
            with leading(platform.session_factory):  # never beside the workers' retraining
                decision = run_retrain(deps, config, force=force)
        except RetrainBusy as exc:
            _fail(str(exc))
        finally:
            platform.close()
    out.print(f"[bold]{decision.outcome}[/bold] ({decision.action}): {decision.reason}")


ApiKeyOpt = typer.Option(
    None,
    "--api-key",
    envvar="SSMAS_API_KEY",
    help="A pricing:admin API key: the audited actor (or SSMAS_API_KEY).",
)


def _admin_actor(platform: Any, raw: str | None) -> str:
    """``apikey:<prefix>`` of a valid key granting ``pricing:admin``, else exit 2."""
    from ssmas.core.security.keys import has_scope, verify_api_key

    if not raw:
        _fail("an approved change needs a pricing:admin --api-key (or SSMAS_API_KEY)")
    with platform.session_factory() as session:
        record = verify_api_key(session, raw)
    if record is None:
        _fail("the API key is unknown, revoked or malformed")
    if not has_scope(record, "pricing:admin"):
        _fail(f"API key {record.prefix} does not grant pricing:admin")
    return f"apikey:{record.prefix}"


def _promotion_deps(platform: Any) -> Any:
    from ssmas.pricing.lifecycle.alerts import PricingAlerts
    from ssmas.pricing.lifecycle.retraining import RetrainDeps

    return RetrainDeps(
        _registry(),
        platform.session_factory,
        platform.bus,
        alerts=PricingAlerts.from_settings(platform.settings.pricing),
    )


@pricing_app.command()
def promote(
    version: int | None = typer.Argument(
        None, min=1, help="Version to make champion (default: the challenger)."
    ),
    approve: bool = typer.Option(False, "--approve", help="An operator approves the promotion."),
    api_key: str | None = ApiKeyOpt,
    reason: str = typer.Option("", max=500, help="Why (kept in the audit log)."),
    online: bool = typer.Option(
        False, "--online", help="Run the live sequential test and promote only if it proves."
    ),
) -> None:
    """Promote a challenger: on live evidence (--online) or by an approved operator
    (--approve --api-key); audited, recorded, notified; running servers reload at once."""
    from ssmas.core.platform import build_platform
    from ssmas.pricing.lifecycle.promotion import (
        PromotionError,
        approve_promotion,
        check_online_promotion,
        policy_from_settings,
    )
    from ssmas.pricing.lifecycle.retraining import RetrainBusy, leading

    if online == approve:
        _fail("choose --online (live evidence) or --approve with a pricing:admin --api-key")
    if online and version is not None:
        _fail("--online tests the deployed challenger: give no version")
    settings = _settings()
    platform = build_platform(settings)
    try:
        with _clean_errors():
            deps = _promotion_deps(platform)
            if online:
                section = settings.pricing
                policy = policy_from_settings(
                    section.promotion_min_gain,
                    section.promotion_alpha,
                    section.promotion_min_outcomes,
                )
                try:
                    with leading(platform.session_factory):  # not beside the workers' check
                        evidence, decision = check_online_promotion(deps, platform.engine, policy)
                except RetrainBusy as exc:
                    _fail(str(exc))
                if evidence is None:
                    _fail("no champion is registered")
                out.print(f"[bold]{evidence.verdict}[/bold]: {evidence.reason}")
                if decision is not None:
                    out.print(f"pricing-cpm v{decision.challenger_version} is now champion")
                return
            actor = _admin_actor(platform, api_key)
            try:
                decision = approve_promotion(deps, version, actor=actor, reason=reason)
            except PromotionError as exc:
                _fail(str(exc))
    finally:
        platform.close()
    out.print(f"pricing-cpm v{decision.challenger_version} is now champion (approved by {actor})")


@pricing_app.command()
def rollback(
    api_key: str | None = ApiKeyOpt,
    reason: str = typer.Option("", max=500, help="Why (kept in the audit log)."),
) -> None:
    """Put back the champion the last promotion replaced (audited, recorded, notified; running
    servers reload it at once)."""
    from ssmas.core.platform import build_platform
    from ssmas.pricing.lifecycle.promotion import rollback_champion

    platform = build_platform(_settings())
    try:
        with _clean_errors():
            actor = _admin_actor(platform, api_key)
            decision = rollback_champion(_promotion_deps(platform), actor=actor, reason=reason)
    finally:
        platform.close()
    out.print(f"rolled back: pricing-cpm v{decision.champion_version} is champion again")


@pricing_app.command()
def models() -> None:
    """Registered versions with their aliases and held-out metrics."""
    from ssmas.pricing.model.bundle import MODEL_NAME

    with _clean_errors():
        versions = _registry().list_versions(MODEL_NAME)
    table = Table(title="pricing-cpm versions")
    for column in ("version", "aliases", "created (UTC)", "test RMSE", "vs segment", "80% cover"):
        table.add_column(column, justify="right" if column != "aliases" else "left")
    for v in versions:
        m = v.metrics

        def fmt(key: str, pattern: str, m: dict[str, float] = m) -> str:
            return format(m[key], pattern) if key in m else "-"

        table.add_row(
            str(v.version),
            ", ".join(v.aliases) or "-",
            f"{v.created_at:%Y-%m-%d %H:%M}",
            fmt("test_rmse", ".4f"),
            fmt("rmse_ratio_vs_segment_baseline", ".3f"),
            fmt("interval80_coverage", ".1%"),
        )
    out.print(table if versions else "no pricing model registered yet")


@pricing_app.command()
def drift(
    lake: Path = LakeOpt,
    day: str = typer.Option(..., help="Day to compare with the training baseline, YYYY-MM-DD."),
    version: str = typer.Option("champion", help="Model whose baseline to use."),
    rows: int = typer.Option(200_000, min=100, help="Sampled auctions."),
) -> None:
    """Drift of a lake day against a model's training baseline (KS / TVD, PSI, seed levels)."""
    from ssmas.pricing.lifecycle.retraining import check_drift
    from ssmas.pricing.model.bundle import load_from_registry

    when = _day(day, "--day")
    with _clean_errors():
        model = load_from_registry(_registry(), version)
        report = check_drift(model, lake, when, rows=rows)
    table = Table(title=f"Drift of {when} against pricing-cpm v{model.version}")
    for column in ("feature", "statistic", "score", "PSI", "level"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for f in report.features:
        table.add_row(f.name, f.statistic, f"{f.score:.3f}", f"{f.psi:.3f}", f.level)
    out.print(table)
    out.print(f"global score {report.score:.3f}: [bold]{report.level}[/bold] → {report.action}")


@pricing_app.command()
def prune(
    older_than_hours: float | None = typer.Option(
        None,
        "--older-than-hours",
        help="Delete captures, decisions and outcomes older than this; default "
        "SSMAS_PRICING_RETENTION_HOURS (168). Drift reports follow "
        "SSMAS_PRICING_DRIFT_REPORT_RETENTION_HOURS (2160).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count the rows; delete nothing."),
) -> None:
    """Delete serving rows past their retention (what the servers do every 10 minutes)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ssmas.core.db import make_engine, upgrade
    from ssmas.pricing.serving import store

    config = _settings().pricing
    traffic_hours = config.retention_hours
    window_h = config.drift_window_s / 3600.0
    if older_than_hours is not None:
        if not math.isfinite(older_than_hours) or older_than_hours <= 0:
            _fail(f"--older-than-hours must be a positive number of hours, got {older_than_hours}")
        if older_than_hours < window_h:
            _fail(
                f"--older-than-hours {older_than_hours:g} is shorter than the drift window "
                f"({window_h:g} h, SSMAS_PRICING_DRIFT_WINDOW_S): the next drift check reads "
                "those rows"
            )
        traffic_hours = older_than_hours
    now = datetime.now(UTC)
    cutoffs = store.retention_cutoffs(now, traffic_hours, config.drift_report_retention_hours)
    url = _settings().resolved_database_url
    try:
        upgrade(url)
        engine = make_engine(url)
        try:
            with _progress("prune") as say:
                say("counting" if dry_run else "deleting in chunks")
                counts = store.prune(engine, cutoffs, dry_run=dry_run, pause_s=0.01)
        finally:
            engine.dispose()
    except (SQLAlchemyError, OSError) as exc:
        _fail(f"cannot prune the serving tables: {str(exc).splitlines()[0]}")
    table = Table(title="Serving rows " + ("that would be deleted" if dry_run else "deleted"))
    table.add_column("table")
    table.add_column("older than (UTC)")
    table.add_column("rows", justify="right")
    cutoff_of = {t.name: c for t, c in cutoffs.items()}
    for name in store.STAMPS:
        cutoff = cutoff_of.get(name)
        if cutoff is None:
            table.add_row(name, "kept forever", "-")
        else:
            table.add_row(name, f"{cutoff:%Y-%m-%d %H:%M:%S}", f"{counts[name]:,}")
    out.print(table)
    total = sum(counts.values())
    out.print(f"{total:,} rows {'would be deleted (dry run)' if dry_run else 'deleted'}")
