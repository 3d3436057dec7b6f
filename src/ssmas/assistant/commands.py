"""``ssmas assistant ...``: check and train the domain, manage its model versions, see which
brain each worker serves, load the knowledge base, and classify a message from the command
line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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
from ssmas.settings import Settings, get_settings

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


kb_app = typer.Typer(
    help="The team's knowledge base (Markdown, PDF, DOCX, FAQ CSV).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
assistant_app.add_typer(kb_app, name="kb")

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="domain directory (domain.yml + example files); default: shipped"),
]


def _domain_problems(exc: Exception) -> None:
    for problem in getattr(exc, "problems", []):
        typer.echo(f"{problem}", err=True)
    count = len(getattr(exc, "problems", []))
    typer.echo(f"error: the training data has {count} problem(s)", err=True)
    raise typer.Exit(code=2)


@assistant_app.command("validate")
def validate_command(data: DataOption = None) -> None:
    """Check the training data; every problem is printed as file:line: reason (exit 2)."""
    from ssmas.assistant.nlu.domain import DomainError, load_domain

    try:
        domain = load_domain(data)
    except DomainError as exc:
        _domain_problems(exc)
        return
    table = Table(title=f"domain {domain.source}")
    table.add_column("intent")
    for lang in domain.languages:
        table.add_column(f"examples {lang}", justify="right")
    counts = domain.counts()
    for intent in domain.intents:
        table.add_row(
            intent, *(str(counts.get(intent, {}).get(lang, 0)) for lang in domain.languages)
        )
    out.print(table)
    out.print(
        f"ok: {len(domain.intents)} intents, {len(domain.entities)} entities, "
        f"{len(domain.forms)} forms, {len(domain.rules)} rules, {len(domain.stories)} stories"
    )


def _train(data: Path | None, embeddings: bool | None, register: bool) -> None:
    from ssmas.assistant.nlu import CorpusMissing, train_assistant
    from ssmas.assistant.nlu.domain import DomainError
    from ssmas.core.registry import RegistryError

    settings = get_settings()
    settings.ensure_dirs()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("training", total=None)
        try:
            report = train_assistant(
                settings,
                data_dir=data,
                use_embeddings=embeddings,
                register_model=register,
                progress=lambda step: progress.update(task, description=f"training: {step}"),
            )
        except DomainError as exc:
            _domain_problems(exc)
            return
        except (CorpusMissing, RuntimeError, RegistryError) as exc:
            _fail(str(exc))
            return
    table = Table(title="validation figures (held-back fifth of the domain; corpora splits)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in report.metrics.items():
        table.add_row(name, f"{value:.4f}")
    out.print(table)
    version = (
        f", MLflow assistant-nlu v{report.registered_version} ({report.alias})"
        if report.registered_version
        else ""
    )
    out.print(
        f"saved {report.path} in {report.seconds:.1f} s "
        f"(embeddings: {'yes' if report.embeddings else 'no'}{version})"
    )


EmbeddingsOption = Annotated[
    bool | None,
    typer.Option(
        "--embeddings/--no-embeddings",
        help="MiniLM features for English intents (default: when installed)",
    ),
]
RegisterOption = Annotated[
    bool, typer.Option("--register/--no-register", help="log a new version to MLflow")
]


@assistant_app.command("train")
def train_command(
    data: DataOption = None, embeddings: EmbeddingsOption = None, register: RegisterOption = True
) -> None:
    """Check the domain's training data, train the NLU, register it (champion when at least as
    good as the current one, else challenger) and save the served model."""
    _train(data, embeddings, register)


@assistant_app.command("train-nlu", hidden=True)
def train_nlu_command(embeddings: EmbeddingsOption = None, register: RegisterOption = True) -> None:
    """Former name of ``train`` (the shipped domain)."""
    _train(None, embeddings, register)


@assistant_app.command("models")
def models_command() -> None:
    """The registered versions of assistant-nlu with their aliases and figures."""
    from ssmas.assistant.nlu.bundle import MODEL_NAME
    from ssmas.core.registry import RegistryError, registry_from_settings

    settings = get_settings()
    settings.ensure_dirs()
    try:
        versions = registry_from_settings(settings).list_versions(MODEL_NAME)
    except RegistryError as exc:
        _fail(str(exc))
        return
    table = Table(title=MODEL_NAME)
    for column in ("version", "aliases", "intent acc es", "intent acc en"):
        table.add_column(column)
    for v in versions:
        m = v.metrics
        table.add_row(
            str(v.version),
            ",".join(v.aliases),
            f"{m.get('domain_val_intent_acc_es', float('nan')):.4f}",
            f"{m.get('domain_val_intent_acc_en', float('nan')):.4f}",
        )
    out.print(table)


@assistant_app.command("promote")
def promote_command(
    version: Annotated[
        int | None, typer.Argument(help="version to make champion (default: the challenger)")
    ] = None,
) -> None:
    """Make a version of assistant-nlu champion and serve it (running workers swap to it)."""
    from ssmas.assistant.nlu.bundle import (
        MODEL_NAME,
        bundle_from_registry,
        bundle_path,
        challenger_path,
        save_bundle,
    )
    from ssmas.core.registry import CHALLENGER, RegistryError, registry_from_settings

    settings = get_settings()
    settings.ensure_dirs()
    try:
        registry = registry_from_settings(settings)
        if version is None:
            challenger = registry.get_version_by_alias(MODEL_NAME, CHALLENGER)
            if challenger is None:
                _fail("no challenger to promote: give a version")
                return
            version = int(challenger.version)
        bundle = bundle_from_registry(settings, version)
        registry.promote(MODEL_NAME, version)
    except (RegistryError, ValueError) as exc:
        _fail(str(exc))
        return
    save_bundle(bundle, bundle_path(settings))
    challenger_path(settings).unlink(missing_ok=True)
    out.print(f"{MODEL_NAME} v{version} is champion and served from {bundle_path(settings)}")


@assistant_app.command("brain-status")
def brain_status_command(
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Which brain every worker serves against the champion and the knowledge base; exit 1
    until every live worker is current (``converged``)."""
    from ssmas.assistant.brain_served import brain_status
    from ssmas.core.cli_errors import fail, first_line
    from ssmas.core.platform import build_platform

    settings = get_settings()
    try:
        platform = build_platform(settings)
    except Exception as exc:  # a bad database URL, a bus that is down: one line, exit 2
        fail(f"cannot open the platform: {first_line(exc)}")
    try:
        status = brain_status(platform.session_factory, settings)
    except Exception as exc:  # the registry or the database unreadable
        fail(f"cannot read the brain status: {first_line(exc)}")
    finally:
        platform.close()
    if as_json:
        typer.echo(json.dumps(status))
    else:
        _print_brain_status(status)
    if not status["converged"]:
        raise typer.Exit(code=1)


def _print_brain_status(status: dict[str, Any]) -> None:
    champion = status["champion_nlu_version"]
    table = Table(
        title=f"champion NLU: {'-' if champion is None else f'v{champion}'}, "
        f"knowledge base: v{status['kb_version']}"
    )
    table.add_column("worker (host-pid)", no_wrap=True)
    for column in ("nlu", "kb", "since (UTC)", "seen (UTC)", "state"):
        table.add_column(column)
    for w in status["workers"]:
        state = "stale" if w["stale"] else "current" if w["current"] else "behind"
        table.add_row(
            w["name"],
            "unregistered" if w["nlu_version"] is None else f"v{w['nlu_version']}",
            f"v{w['kb_version']}",
            w["since"][:19].replace("T", " "),
            w["seen_at"][:19].replace("T", " "),
            state,
        )
    out.print(table)
    out.print("converged" if status["converged"] else "not converged")


@kb_app.command("load")
def kb_load_command(
    paths: Annotated[list[Path], typer.Argument(help="files or folders to load")],
) -> None:
    """Read, chunk and index documents (a file loaded again replaces its earlier version)."""
    from ssmas.assistant.kb import KbError, load_files

    settings = get_settings()
    settings.ensure_dirs()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("loading", total=None)
        try:
            report = load_files(
                settings, paths, progress=lambda m: progress.update(task, description=m)
            )
        except KbError as exc:
            _fail(str(exc))
            return
    for source, count in report.files.items():
        out.print(f"{source}: {count} passages")
    out.print(
        f"index v{report.version}: {report.total_passages} passages (shipped FAQ included), "
        f"embeddings: {'yes' if report.embeddings else 'no'} → {report.path}"
    )
    _announce_knowledge(settings)


def _announce_knowledge(settings: Settings) -> None:
    """Running workers swap to the rebuilt index (``brain_reload``)."""
    from ssmas.assistant.brain_reload import announce_knowledge
    from ssmas.assistant.kb import knowledge_version

    announce_knowledge(settings, knowledge_version(settings))


@kb_app.command("list")
def kb_list_command() -> None:
    """The loaded sources and their passage counts."""
    from ssmas.assistant.kb import (
        SHIPPED_SOURCE,
        knowledge_version,
        loaded_sources,
        shipped_passages,
    )

    settings = get_settings()
    out.print(f"knowledge base v{knowledge_version(settings)}")
    out.print(f"{SHIPPED_SOURCE} (shipped): {len(shipped_passages())} passages")
    for source, passages in loaded_sources(settings).items():
        out.print(f"{source}: {len(passages)} passages")


@kb_app.command("remove")
def kb_remove_command(source: Annotated[str, typer.Argument(help="file name as listed")]) -> None:
    """Drop a loaded source from the knowledge base."""
    from ssmas.assistant.kb import remove_source

    settings = get_settings()
    if not remove_source(settings, source):
        _fail(f"no loaded source named {source!r} (see `ssmas assistant kb list`)")
    _announce_knowledge(settings)
    out.print(f"removed {source}")


@kb_app.command("search")
def kb_search_command(
    text: Annotated[str, typer.Argument(help="a customer's question")],
    language: Annotated[str, typer.Option("--language", "-l", help="es or en")] = "es",
) -> None:
    """The best passages for a question, with their scores (BM25, MiniLM, hybrid)."""
    from ssmas.assistant.kb import knowledge_index
    from ssmas.assistant.kb.parse import Passage  # noqa: F401  (unpickling the index)

    if language not in ("es", "en"):
        _fail(f"--language must be es or en, not {language!r}")
    if not text.strip():
        _fail("TEXT is empty")
    settings = get_settings()
    settings.ensure_dirs()
    from ssmas.assistant.kb import default_encoder

    index = knowledge_index(settings, encoder=None)
    hits = index.search(text, language, default_encoder() if index.dense else None, k=5)
    table = Table(title=f"knowledge base: {text}")
    for column in ("score", "bm25", "dense", "source", "passage"):
        table.add_column(column)
    for hit in hits:
        table.add_row(
            f"{hit.score:.3f}",
            f"{hit.bm25:.3f}",
            f"{hit.dense:.3f}",
            hit.passage.citation,
            hit.passage.text[:80],
        )
    out.print(table)


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
