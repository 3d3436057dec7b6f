"""Campaign experiments live (issue 17, item 1: "100+ experiments running at once"): 100
experiments of one enterprise tenant (its tier's quota) running at once on SQLite, each
with 2,000 units assigned and their conversions recorded through ``ssmas.campaigns.live``,
then looked at:

- ``experiments_running``: experiments running at once (100);
- ``experiment_assign_ms``: assigning one experiment's units (2,000) (hashing and
  recording them), p50 over the experiments;
- ``experiment_outcomes_ms``: recording its 2,000 conversions (0/1), p50;
- ``experiment_results_ms``: one experiment's full look (SRM, fixed, always-valid, Bayesian,
  Beta-binomial, decision) from the database, p50 and p99 over every experiment;
- ``auto_conclude_all_s``: the seed's ``auto_conclude_tests`` over all of them (each looked at
  and concluded when the sequential test allows), and ``auto_concluded`` how many it ended:
  a fifth of the experiments have a 60% relative lift (10% -> 16%), the rest none.

The 1-minute load average is recorded before and after (a shared machine: read the times
with it). Figures go to ``results/campaigns_experiments_live.json`` and are merged into
``campaigns_optimise.json``.

    .venv/bin/python benchmarks/campaigns_experiments_live.py [--quick]

``--quick`` runs 12 experiments of 500 units.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import merge_figures, write_result  # noqa: E402
from ssmas.campaigns.live import (  # noqa: E402
    MetricSpec,
    OutcomeIn,
    assign_units,
    auto_conclude,
    create_experiment,
    experiment_results,
    record_outcomes,
)
from ssmas.campaigns.scope import TenantScope  # noqa: E402
from ssmas.campaigns.tenancy import create_tenant  # noqa: E402
from ssmas.core.platform import build_platform  # noqa: E402
from ssmas.settings import Settings  # noqa: E402

NAME = "campaigns_experiments_live"
console = Console(stderr=True)


def _quantile(values: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 experiments of 500 units")
    args = parser.parse_args()
    count, units = (12, 500) if args.quick else (100, 2_000)
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(17)
    assign_ms: list[float] = []
    outcome_ms: list[float] = []
    results_ms: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(profile="test", data_dir=Path(folder))
        settings.ensure_dirs()
        platform = build_platform(settings)
        try:
            with platform.uow() as uow:
                tenant = create_tenant(uow.session, "bench-live", "Bench", "enterprise")
                uow.commit()
            ids: list[int] = []
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("experiments", total=count)
                for k in range(count):
                    lifted = k % 5 == 0
                    rates = {"control": 0.10, "treatment": 0.16 if lifted else 0.10}
                    with platform.uow() as uow:
                        scope = TenantScope(uow.session, tenant.id)
                        exp = _create(scope, tenant, k)
                        ids.append(int(exp["id"]))
                        names = [f"u{k}-{i}" for i in range(units)]
                        start = time.perf_counter()
                        given = assign_units(scope, exp["id"], names)
                        assign_ms.append((time.perf_counter() - start) * 1000)
                        draws = rng.random(units)
                        rows = [
                            OutcomeIn(a["unit"], "conversion", float(d < rates[a["variant"]]))
                            for a, d in zip(given, draws, strict=True)
                        ]
                        start = time.perf_counter()
                        record_outcomes(scope, exp["id"], rows)
                        outcome_ms.append((time.perf_counter() - start) * 1000)
                        uow.commit()
                    progress.advance(task)
            with platform.uow() as uow:
                scope = TenantScope(uow.session, tenant.id)
                for exp_id in ids:
                    start = time.perf_counter()
                    experiment_results(scope, exp_id)
                    results_ms.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                concluded = auto_conclude(scope)
                conclude_s = time.perf_counter() - start
                uow.commit()
        finally:
            platform.close()
    load_after = os.getloadavg()[0]
    figures: dict[str, Any] = {
        "experiments_running": count,
        "experiment_units_each": units,
        "experiment_assign_ms": round(statistics.median(assign_ms), 2),
        "experiment_outcomes_ms": round(statistics.median(outcome_ms), 2),
        "experiment_results_ms": round(statistics.median(results_ms), 2),
        "experiment_results_p99_ms": round(_quantile(results_ms, 0.99), 2),
        "auto_conclude_all_s": round(conclude_s, 3),
        "auto_concluded": len(concluded),
        "experiments_load_avg_before": round(load_before, 2),
        "experiments_load_avg_after": round(load_after, 2),
    }
    notes = (
        f"{count} experiments of one tenant on SQLite, {units} units each (two arms, 50/50), "
        "a fifth with a 60% relative lift (10% -> 16%), the rest A/A; assignment and outcomes "
        "through ssmas.campaigns.live, one transaction per experiment; results and "
        f"auto-conclusion read back from the database. Load average {load_before:.1f} before, "
        f"{load_after:.1f} after, {os.cpu_count()} cores (shared machine)."
    )
    path = write_result(NAME, figures, notes, quick=args.quick)
    console.print(f"wrote {path}", highlight=False)
    if not args.quick:
        merged = merge_figures("campaigns_optimise", figures, "campaigns_experiments_live.py")
        console.print(f"merged into {merged}", highlight=False)
    table = Table(title=f"{count} experiments running at once ({units:,} units each)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else f"{value:g}")
    Console().print(table)


def _create(scope: TenantScope, tenant: Any, k: int) -> dict[str, Any]:
    return create_experiment(
        scope,
        tenant,
        key=f"bench-{k}",
        name=f"Bench {k}",
        variants=[("control", 1.0), ("treatment", 1.0)],
        metric=MetricSpec("conversion"),
    )


if __name__ == "__main__":
    main()
