"""``ssmas adops``: the AdOps commands (so far ``nab``, the detector on the NAB benchmark).

Commands translate arguments, call a service and print the outcome; bad input exits with code 2
and a one-line message on stderr.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ssmas.core.cli_errors import fail as _fail
from ssmas.core.cli_errors import first_line

__all__ = ["adops_app"]

adops_app = typer.Typer(name="adops", no_args_is_help=True, pretty_exceptions_enable=False)


@adops_app.callback()
def adops() -> None:
    """Autonomous AdOps: anomaly detection on metric series, scored on NAB."""


out = Console()
err = Console(stderr=True)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@adops_app.command()
def nab(
    data: Path = typer.Option(..., "--data", help="Folder of NAB CSVs (family folders below)."),
    labels: Path = typer.Option(..., "--labels", help="NAB's combined_windows.json."),
    profiles: Path | None = typer.Option(
        None, "--profiles", help="NAB's profiles.json (default: NAB's three profiles)."
    ),
    thresholds: Path | None = typer.Option(
        None, "--thresholds", help="Score with these thresholds instead of sweeping."
    ),
    write_thresholds: Path | None = typer.Option(
        None, "--write-thresholds", help="Write the chosen thresholds (JSON) here."
    ),
    out_file: Path | None = typer.Option(None, "--out", help="Write the full report (JSON)."),
) -> None:
    """Run the detector on every CSV under --data and report NAB scores per profile and family."""
    from ssmas.adops.nab.run import run_nab, thresholds_document

    columns = (
        TextColumn("[bold]detecting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    files = sorted(data.rglob("*.csv")) if data.is_dir() else []
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("", total=len(files))

            def step(name: str) -> None:
                progress.update(task, advance=1, description=name)

            result = run_nab(data, labels, profiles, thresholds, progress=step)
    except (ValueError, FileNotFoundError) as exc:
        _fail(first_line(exc))

    swept = "swept on this data" if thresholds is None else f"from {thresholds}"
    table = Table(title=f"NAB: {len(result.series)} files, {result.points:,} points ({swept})")
    for name in ("profile", "family", "files", "windows", "score", "raw", "TP", "FP", "threshold"):
        table.add_column(name, justify="left" if name in ("profile", "family") else "right")
    for name, report in result.reports.items():
        rows = [("all", report.corpus), *report.families.items()]
        for family, o in rows:
            table.add_row(
                name if family == "all" else "",
                family,
                str(o.files),
                str(o.windows),
                _score(o.score),
                f"{o.raw:.2f}",
                str(o.tp),
                str(o.fp),
                f"{report.threshold:.4f}" if family == "all" else "",
            )
    # the table needs ~100 columns; below that Rich would cut the family names and figures
    Console(width=max(out.width, 110)).print(table)
    try:
        if write_thresholds is not None:
            body = thresholds_document(result)
            write_thresholds.write_text(json.dumps(body, indent=2) + "\n")
            out.print(f"thresholds written to {write_thresholds}")
        if out_file is not None:
            out_file.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
            out.print(f"report written to {out_file}")
    except OSError as exc:
        _fail(f"cannot write: {exc}")


# Event rules (the seed's EventBridge): `ssmas adops rules ...` and `ssmas adops replay`.
from ssmas.adops.events.commands import replay_command, rules_app  # noqa: E402

adops_app.add_typer(rules_app, name="rules")
adops_app.command("replay")(replay_command)
# ---- the stream and incidents (issue 14, items 1, 5, 6) ------------------------------------


@adops_app.command()
def ingest(
    csv_file: Path = typer.Argument(..., help="CSV with a timestamp column and a value column."),
    series: str = typer.Option(..., "--series", help="Series name (letters, digits, _ . : -)."),
) -> None:
    """Send a timestamp,value CSV to the stream (bus topic adops.series): the stream worker
    windows it, scores it and opens incidents for its anomalies."""
    from ssmas.adops.series_csv import SeriesFileError, read_series_csv, send_series
    from ssmas.core.platform import build_platform
    from ssmas.settings import get_settings

    try:
        points = read_series_csv(csv_file, series)
    except SeriesFileError as exc:
        _fail(str(exc))
    platform = build_platform(get_settings())
    try:
        sent = send_series(platform.bus, series, points)
    finally:
        platform.close()
    out.print(f"{sent:,} points of {series} accepted (topic adops.series)")


@adops_app.command()
def incidents(
    state: str | None = typer.Option(None, "--state", help="open, triaged, mitigating, ..."),
    limit: int = typer.Option(20, "--limit", min=1, max=500),
) -> None:
    """List incidents, newest first."""
    from ssmas.adops.incidents import STATES
    from ssmas.adops.runtime import incident_service
    from ssmas.core.platform import build_platform
    from ssmas.settings import get_settings

    if state is not None and state not in STATES:
        _fail(f"unknown state {state!r}; choose from {', '.join(STATES)}")
    platform = build_platform(get_settings())
    try:
        rows = incident_service(platform).list_incidents(state=state, limit=limit)
    finally:
        platform.close()
    table = Table(title=f"AdOps incidents ({len(rows)})")
    for name in ("opened", "incident", "severity", "state", "alerts", "title"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            row["opened_at"].strftime("%Y-%m-%d %H:%M"),
            row["incident_id"],
            row["severity"],
            row["state"],
            str(row["alert_count"]),
            row["title"],
        )
    out.print(table)


# ---- the stream detector's trained model (issue 14, item 2: registry with approval) ---------


def _history_messages(messages_file: Path | None, days: float) -> list[dict[str, object]]:
    """The exchange's metric messages: a JSON-lines file, else the bus topic ``metrics.adops``
    (its last ``days`` of stream time)."""
    import json as _json

    if messages_file is not None:
        try:
            lines = messages_file.read_text().splitlines()
        except OSError as exc:
            _fail(f"cannot read {messages_file}: {exc.strerror}")
        rows = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = _json.loads(line)
            except ValueError:
                _fail(f"{messages_file}:{number}: not a JSON object")
            if not isinstance(row, dict):
                _fail(f"{messages_file}:{number}: not a JSON object")
            rows.append(row)
        return rows
    from ssmas.adops.stream.job import METRICS_TOPIC
    from ssmas.core.platform import build_platform
    from ssmas.settings import get_settings

    platform = build_platform(get_settings())
    try:
        rows, offset = [], 0
        while True:
            batch = platform.bus.replay(METRICS_TOPIC, from_offset=offset, limit=5000)
            if not batch:
                break
            rows += [m.payload for m in batch]
            offset = batch[-1].offset + 1
    finally:
        platform.close()
    stamps = sorted(str(r.get("ts")) for r in rows if isinstance(r.get("ts"), str))
    if stamps:
        from datetime import datetime, timedelta

        # an unreadable newest time keeps every row: the history reader skips bad times anyway
        with contextlib.suppress(ValueError):
            cutoff = (datetime.fromisoformat(stamps[-1]) - timedelta(days=days)).isoformat()
            rows = [r for r in rows if str(r.get("ts", "")) >= cutoff]
    return rows


@adops_app.command("train-detector")
def train_detector(
    messages_file: Path | None = typer.Option(
        None, "--messages", help="JSON lines of metrics.adops messages (default: the bus)."
    ),
    days: float = typer.Option(7.0, "--days", min=0.5, help="History to train on (bus only)."),
) -> None:
    """Fit the stream detector's seasonal baselines and gains from history and register the
    model in the MLflow registry, pending approval (it serves only once approved)."""
    from ssmas.adops.stream.model import DetectorModelError, history_from_messages
    from ssmas.adops.stream.processor import METRIC_FLOORS
    from ssmas.adops.stream.registry import MODEL_NAME, PENDING, register_detector
    from ssmas.core.registry import RegistryError, registry_from_settings
    from ssmas.settings import get_settings

    rows = _history_messages(messages_file, days)
    history = history_from_messages(rows)
    with err.status(f"fitting on {len(rows):,} messages, {len(history):,} series"):
        try:
            version, model = register_detector(
                registry_from_settings(get_settings()),
                history,
                floors=METRIC_FLOORS,
                source=str(messages_file) if messages_file else "bus:metrics.adops",
            )
        except (DetectorModelError, RegistryError) as exc:
            _fail(first_line(exc))
    out.print(
        f"{MODEL_NAME} v{version} registered ({PENDING}): {len(model.keys):,} series, "
        f"{model.metrics['history_days']:.1f} days of history; approve it with "
        f"`ssmas adops approve-detector {version}`"
    )


@adops_app.command("approve-detector")
def approve_detector_command(
    version: str = typer.Argument(..., help="The registered version to approve."),
    actor: str = typer.Option("cli", "--by", help="Who approves (recorded on the version)."),
    reject: bool = typer.Option(False, "--reject", help="Reject it instead (never served)."),
) -> None:
    """Approve a pending detector version: it becomes the champion and the stream worker
    scores with it from its next batch (or --reject it)."""
    from ssmas.adops.stream.registry import (
        MODEL_NAME,
        DetectorApprovalError,
        approve_detector,
        reject_detector,
    )
    from ssmas.core.registry import RegistryError, registry_from_settings
    from ssmas.settings import get_settings

    registry = registry_from_settings(get_settings())
    try:
        if reject:
            number = reject_detector(registry, version, actor=actor)
        else:
            number = approve_detector(registry, version, actor=actor)
    except (DetectorApprovalError, RegistryError) as exc:
        _fail(first_line(exc))
    verb = "rejected" if reject else "approved: it is the champion the stream scores with"
    out.print(f"{MODEL_NAME} v{number} {verb}")


@adops_app.command("detector-versions")
def detector_versions_command() -> None:
    """The detector's registered versions with their approval state, newest first."""
    from ssmas.adops.stream.registry import detector_versions
    from ssmas.core.registry import RegistryError, registry_from_settings
    from ssmas.settings import get_settings

    try:
        rows = detector_versions(registry_from_settings(get_settings()))
    except RegistryError as exc:
        _fail(first_line(exc))
    table = Table(title=f"adops-detector ({len(rows)} versions)")
    for name in ("version", "approval", "by", "aliases", "series", "created"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            str(row["version"]),
            row["approval"],
            row["approved_by"] or "",
            ", ".join(row["aliases"]),
            str(int(row["metrics"].get("series", 0))),
            row["created_at"][:16],
        )
    Console(width=max(out.width, 100)).print(table)


# ---- the agents (issue 15): `ssmas adops agents ...` --------------------------------------
from ssmas.adops.agents.commands import agents_app  # noqa: E402

adops_app.add_typer(agents_app, name="agents")
