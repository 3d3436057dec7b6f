"""``ssmas campaigns quality``: train the lead-quality ensemble on simulated leads, register it
(champion or challenger), and evaluate a registered version against the ground truth.

Model code and MLflow are imported inside the commands, so ``ssmas --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ssmas.core.cli_errors import fail, first_line
from ssmas.core.progress import progress_bar

__all__ = ["quality_app"]

quality_app = typer.Typer(
    name="quality",
    help="Lead quality: the seed's ensemble trained on simulated leads, in the model registry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()


def _registry(*, existing: bool = False) -> Any:
    """The platform's registry; with ``existing``, refuse rather than create an empty one."""
    from ssmas.core.registry import registry_from_settings
    from ssmas.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        fail(str(exc))
    if existing and not (
        settings.mlflow_tracking_uri or (settings.data_dir / "mlflow.db").exists()
    ):
        fail("no model registry yet: run `ssmas campaigns quality train` first")
    return registry_from_settings(settings)


def _metrics_table(title: str, metrics: dict[str, float]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in sorted(metrics):
        table.add_row(key, f"{metrics[key]:.4f}")
    return table


@quality_app.command()
def train(
    leads: int = typer.Option(20_000, "--leads", help="Simulated leads to train on."),
    test_leads: int = typer.Option(20_000, "--test-leads", help="Held-out simulated leads."),
    seed: int = typer.Option(0, "--seed", help="Seed of the training leads and the models."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds (2-10)."),
    rounds: int = typer.Option(200, "--rounds", help="Most boosting rounds per tree member."),
    min_improvement: float = typer.Option(
        0.0, "--min-improvement", help="AUC a new version must gain to replace the champion."
    ),
) -> None:
    """Train, cross-validate and register a version; the first is champion, later ones must
    beat the champion on the same held-out leads (else they stay challenger)."""
    from pydantic import ValidationError

    from ssmas.campaigns.quality.lifecycle import TrainConfig, train_and_decide
    from ssmas.core.registry import RegistryError

    try:
        config = TrainConfig(
            leads=leads,
            test_leads=test_leads,
            seed=seed,
            folds=folds,
            rounds=rounds,
            min_improvement=min_improvement,
        )
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        fail(f"--{str(problem['loc'][0]).replace('_', '-')}: {problem['msg']}")
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("simulating leads", total=None)
            decision = train_and_decide(
                _registry(), config, progress=lambda text: bar.update(task, description=text)
            )
    except (RegistryError, ValueError) as exc:
        fail(first_line(exc))
    out.print(_metrics_table(f"lead quality v{decision.version} (held-out)", decision.metrics))
    out.print(f"{decision.outcome}: {decision.reason}")


@quality_app.command()
def evaluate(
    version: str = typer.Option("champion", "--version", help="Number, alias or 'latest'."),
    leads: int = typer.Option(20_000, "--leads", help="Fresh simulated leads to judge on."),
    seed: int = typer.Option(424242, "--seed", help="Seed of the fresh leads."),
) -> None:
    """AUC of a registered version and of each member on fresh simulated leads, against the
    oracle (the true conversion probability)."""
    from ssmas.campaigns.quality.evaluation import evaluate as evaluate_model
    from ssmas.campaigns.quality.lifecycle import load
    from ssmas.campaigns.quality.simulator import simulate_leads
    from ssmas.core.registry import RegistryError

    if not 200 <= leads <= 2_000_000:
        fail(f"--leads must be between 200 and 2000000 (got {leads})")
    try:
        ensemble, number = load(_registry(existing=True), version)
        metrics = evaluate_model(ensemble, simulate_leads(leads, seed=seed))
    except (RegistryError, ValueError) as exc:
        fail(first_line(exc))
    out.print(_metrics_table(f"lead quality v{number} on {leads} fresh leads", metrics))


@quality_app.command("score")
def score(
    tenant: str = typer.Option(..., "--tenant", help="The tenant's id."),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Rescore every lead, replacing qualities given in files and earlier scores.",
    ),
) -> None:
    """(Re)score a tenant's leads with the lead-quality champion and store the scores (by
    default the leads without a quality)."""
    from ssmas.campaigns.commands_tenants import open_platform
    from ssmas.campaigns.leads.scoring import score_tenant_leads
    from ssmas.campaigns.tenancy import get_tenant

    with open_platform() as platform:
        with platform.uow() as uow:
            tenant_id = get_tenant(uow.session, tenant).id
        with progress_bar("scoring", err) as bar:
            outcome, line = score_tenant_leads(
                platform, tenant_id, tenant, overwrite=overwrite, progress=bar.update
            )
    if outcome is None:
        fail(line)
    out.print(f"{line} ({outcome.considered:,} considered)", highlight=False, markup=False)
