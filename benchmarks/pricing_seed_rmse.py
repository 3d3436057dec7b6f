"""The seed's success criterion for pricing: held-out RMSE below 0.45 EUR CPM.

    .venv/bin/python benchmarks/pricing_seed_rmse.py [--quick] [--volume N]

A simulated 4-day history (``--volume`` requests a day, default 300k; 20k with --quick), trained
through the lake pipeline like ``benchmarks/pricing.py`` (days 1-2 train, 3 calibration, 4 the
held-out test day); ``seed_rmse_eur`` is the RMSE on the filled impressions of the held-out day,
``seed_rmse_met`` says whether it is below the seed's 0.45 EUR. The full run merges its figures
into ``results/pricing.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import merge_figures, write_result  # noqa: E402

SEED_TARGET_EUR = 0.45
HISTORY_START = date(2026, 3, 2)  # as benchmarks/pricing.py
console = Console()


def figures(volume: int, work: Path) -> dict[str, Any]:
    from ssmas.exchange import SimulationConfig, simulate_to_lake
    from ssmas.pricing.model.training import train_from_lake

    lake = work / "history"
    with console.status(f"simulating 4 days x {volume:,} requests"):
        simulate_to_lake(SimulationConfig(HISTORY_START, 4, float(volume), seed=11), lake)
    started = time.perf_counter()
    with console.status("training on days 1-3, testing on day 4"):
        result = train_from_lake(lake, HISTORY_START, HISTORY_START + timedelta(days=3), seed=0)
    m = result.metrics
    rmse = float(m["test_rmse"])
    return {
        "seed_rmse_eur": round(rmse, 4),
        "seed_rmse_target_eur": SEED_TARGET_EUR,
        "seed_rmse_met": rmse < SEED_TARGET_EUR,
        "seed_rmse_test_rows": int(m["test_rows"]),
        "seed_rmse_history_requests": volume * 4,
        "seed_rmse_train_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k requests a day, no merge")
    parser.add_argument("--volume", type=int, default=None, help="requests a day")
    args = parser.parse_args()
    volume = args.volume or (20_000 if args.quick else 300_000)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        result = figures(volume, Path(tmp))
    table = Table(
        title="seed criterion: held-out RMSE < 0.45 EUR" + (" quick" if args.quick else "")
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)
    notes = (
        f"{'QUICK: ' if args.quick else ''}simulated history 4 days x {volume:,} requests "
        "(seed 11); days 1-2 train, 3 calibration, 4 held out; seed_rmse_eur is the RMSE "
        "(EUR CPM) on the held-out day's filled impressions, against the seed's target 0.45. "
        f"Load average {load:.1f} (2 shared cores)."
    )
    path = write_result("pricing_seed_rmse", result, notes, quick=args.quick)
    console.print(f"wrote {path}")
    if not args.quick:
        merged = merge_figures("pricing", result, "pricing_seed_rmse.py")
        if merged is not None:
            console.print(f"merged into {merged}")


if __name__ == "__main__":
    main()
