"""``ssmas assistant ...``: train the NLU models and classify a message from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ssmas.assistant.dlq_commands import dlq_app
from ssmas.assistant.governance_commands import customer_app, retention_command
from ssmas.assistant.workspace_commands import (
    agents_app,
    canned_app,
    csat_command,
    rules_app,
    teams_app,
)
from ssmas.settings import get_settings

assistant_app = typer.Typer(
    help="WhatsApp customer-service assistant.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()
assistant_app.add_typer(dlq_app, name="dlq")
assistant_app.add_typer(customer_app, name="customer")
assistant_app.command("retention")(retention_command)
assistant_app.add_typer(teams_app, name="teams")
assistant_app.add_typer(agents_app, name="agents")
assistant_app.add_typer(rules_app, name="rules")
assistant_app.add_typer(canned_app, name="canned")
assistant_app.command("csat")(csat_command)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@assistant_app.command("train-nlu")
def train_nlu_command(
    embeddings: Annotated[
        bool | None,
        typer.Option(
            "--embeddings/--no-embeddings",
            help="MiniLM features for English intents (default: when installed)",
        ),
    ] = None,
    register: Annotated[
        bool, typer.Option("--register/--no-register", help="log a new version to MLflow")
    ] = True,
    full: Annotated[
        bool,
        typer.Option(
            "--full/--holdout", help="after measuring, refit the saved models on all the data"
        ),
    ] = True,
) -> None:
    """Train language, intent and sentiment models, print their validation figures."""
    from ssmas.assistant.nlu import CorpusMissing, train_nlu

    settings = get_settings()
    settings.ensure_dirs()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("training NLU", total=None)
        try:
            report = train_nlu(
                settings,
                use_embeddings=embeddings,
                register_model=register,
                refit_full=full,
                progress=lambda step: progress.update(task, description=f"training: {step}"),
            )
        except (CorpusMissing, RuntimeError) as exc:
            _fail(str(exc))
            return
    table = Table(title="NLU validation figures (held-out splits)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in report.metrics.items():
        table.add_row(name, f"{value:.4f}")
    out.print(table)
    version = f", MLflow version {report.registered_version}" if report.registered_version else ""
    out.print(
        f"saved {report.path} in {report.seconds:.1f} s "
        f"(embeddings: {'yes' if report.embeddings else 'no'}{version})"
    )


@assistant_app.command("classify")
def classify_command(
    text: Annotated[str, typer.Argument(help="the customer's message")],
    language: Annotated[str | None, typer.Option("--language", "-l", help="force es or en")] = None,
) -> None:
    """Print the NLU analysis of one message as JSON."""
    from ssmas.assistant.nlu import NluUnavailable, load_nlu

    if not text.strip():
        _fail("TEXT is empty")
    if language is not None and language not in ("es", "en"):
        _fail(f"--language must be es or en, not {language!r}")
    settings = get_settings()
    settings.ensure_dirs()
    try:
        nlu = load_nlu(settings)
    except NluUnavailable as exc:
        _fail(str(exc))
        return
    typer.echo(json.dumps(nlu.analyse(text, language).as_dict(), ensure_ascii=False))
