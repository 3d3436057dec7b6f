"""Ops autoscaling advisor (issue 18): rolling-origin backtest on a simulated month of traffic.

The exchange's traffic (``ssmas.exchange.expected_minute_volume``: hour-of-day and weekday shapes,
growth; Poisson minute counts as the engine draws them) at ``--volume`` ad requests a day gives
each service of ``ssmas.ops.autoscale.traffic.SERVICES`` its share; the load of an hour is its
busiest minute in requests per second. After ``--warmup-days`` of history, every 24 hours the
advisor fits everything before the origin (hour-of-week profile + trend), forecasts the next 24
hours with a 95% interval and advises replicas from the upper bound; ``--days`` evaluated days
(a month) per seed, ``--seeds`` seeds.

- ``autoscale_cover_pct``: share of service-hours whose advised capacity (replicas x capacity)
  met the real load (target >= 95); ``autoscale_overprovision_pct``: mean of
  (capacity - load) / load over those hours, 0 for an hour not covered (target <= 30), integer
  replicas and the services' minimum replicas included; ``autoscale_mape_pct``: mean absolute
  percentage error of the point forecast; ``autoscale_naive_mape_pct``: the same for the seasonal
  naive forecast (the same hour a week before), the baseline; ``autoscale_interval_cover_pct``:
  hours inside the 95% interval; per service too.

    .venv/bin/python benchmarks/ops_autoscale.py [--quick] [--seeds N] [--days N]

Writes ``results/ops_autoscale.json`` and merges the figures into ``results/ops.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks._report import merge_figures, write_result  # noqa: E402

from ssmas.ops.autoscale.advisor import BacktestResult, backtest  # noqa: E402
from ssmas.ops.autoscale.traffic import SERVICES, simulate_load  # noqa: E402

NAME = "ops_autoscale"
START = date(2026, 1, 5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, one evaluated week")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--days", type=int, default=30, help="evaluated days per seed")
    parser.add_argument("--warmup-days", type=int, default=14)
    parser.add_argument("--volume", type=float, default=30e6, help="ad requests a day")
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    days = 7 if args.quick else args.days
    console = Console()
    results: list[BacktestResult] = []
    naive_ape: list[float] = []  # seasonal naive baseline: the same hour a week before
    began = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("backtest", total=seeds * len(SERVICES))
        for seed in range(seeds):
            histories = simulate_load(
                START, args.warmup_days + days, requests_per_day=args.volume, seed=100 + seed
            )
            for service in SERVICES:
                load = histories[service.name].rps
                actual = load[args.warmup_days * 24 :]
                before = load[args.warmup_days * 24 - 168 : -168]
                naive_ape.extend(np.abs(before - actual) / actual)
                results.append(
                    backtest(service, histories[service.name], warmup_hours=args.warmup_days * 24)
                )
                progress.advance(task)
    elapsed = time.perf_counter() - began
    hours = sum(r.hours for r in results)

    def pooled(field: str, subset: list[BacktestResult]) -> float:
        weight = sum(r.hours for r in subset)
        return round(sum(getattr(r, field) * r.hours for r in subset) / weight, 2)

    per_service: dict[str, dict[str, float]] = {}
    for service in SERVICES:
        mine = [r for r in results if r.service == service.name]
        per_service[service.name] = {
            "cover_pct": pooled("cover_pct", mine),
            "overprovision_pct": pooled("overprovision_pct", mine),
            "mape_pct": pooled("mape_pct", mine),
            "interval_cover_pct": pooled("interval_cover_pct", mine),
            "capacity_rps": service.capacity_rps,
        }
    figures: dict[str, Any] = {
        "autoscale_cover_pct": pooled("cover_pct", results),
        "autoscale_overprovision_pct": pooled("overprovision_pct", results),
        "autoscale_mape_pct": pooled("mape_pct", results),
        "autoscale_interval_cover_pct": pooled("interval_cover_pct", results),
        "autoscale_naive_mape_pct": round(100.0 * float(np.mean(naive_ape)), 2),
        "autoscale_service_hours": hours,
        "autoscale_backtest_s": round(elapsed, 2),
        "autoscale_by_service": per_service,
    }
    table = Table("service", "cover %", "over-provision %", "MAPE %", "in 95% interval %")
    for name, row in per_service.items():
        table.add_row(
            name,
            f"{row['cover_pct']:.1f}",
            f"{row['overprovision_pct']:.1f}",
            f"{row['mape_pct']:.2f}",
            f"{row['interval_cover_pct']:.1f}",
        )
    console.print(table)
    keys = ("cover_pct", "overprovision_pct", "mape_pct", "naive_mape_pct")
    for key in (f"autoscale_{k}" for k in keys):
        console.print(f"{key}: {figures[key]}")
    notes = (
        f"{seeds} seeds x {days} evaluated days after {args.warmup_days} days of warm-up, "
        f"{len(SERVICES)} services, {args.volume:,.0f} ad requests a day; rolling origin every "
        "24 h, 24 h horizon, 95% interval, replicas from its upper bound; one process"
    )
    write_result(NAME, figures, notes, quick=args.quick)
    if not args.quick:
        merge_figures("ops", figures, "benchmarks/ops_autoscale.py")
    ok = figures["autoscale_cover_pct"] >= 95 and figures["autoscale_overprovision_pct"] <= 30
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
