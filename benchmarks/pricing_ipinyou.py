"""iPinYou through the project's own import path: the figures the maintainers' held-out day is
scored with, measured here on train.txt alone.

    .venv/bin/python benchmarks/pricing_ipinyou.py [--quick]

train.txt is read by the ``ipinyou`` importer (``ssmas pricing import`` / ``evaluate-log``),
split by row order (the file is in time order: the mean price of its tenths moves from 52 to 73,
far more than a shuffled file's ±0.6), first 80% to train, last 20% to test, and scored as
``ssmas pricing evaluate-log --format ipinyou --train train.txt`` scores it. The figures are
merged into ``results/pricing.json`` (a --quick run, fewer rounds, writes
``results/pricing_ipinyou.quick.json`` only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from _report import merge_figures, write_result  # noqa: E402

IPINYOU = ROOT.parent / "shared" / "data" / "ipinyou" / "train.txt"
console = Console()


def figures(*, quick: bool = False, path: Path = IPINYOU) -> dict[str, Any]:
    """Import, split 80 / 20 by row order, train, score against both training baselines."""
    from ssmas.pricing.model.importers import parse_log
    from ssmas.pricing.model.log_model import (
        ROUNDS,
        evaluate_log_model,
        fit_log_model,
        split_by_order,
    )

    started = time.perf_counter()
    table, report = parse_log("ipinyou", path)
    import_s = time.perf_counter() - started
    train, test = split_by_order(table, 0.8)
    rounds = 50 if quick else ROUNDS
    started = time.perf_counter()
    model = fit_log_model(train, rounds=rounds, threads=1)
    train_s = time.perf_counter() - started
    m = evaluate_log_model(model, test)
    return {
        "ipinyou_rmse_ratio_vs_mean": round(m["rmse_ratio_vs_mean"], 4),
        "ipinyou_rmse_ratio_vs_exchange_mean": round(m["rmse_ratio_vs_exchange_mean"], 4),
        "ipinyou_rmse": round(m["rmse"], 2),
        "ipinyou_mean_rmse": round(m["rmse_mean_baseline"], 2),
        "ipinyou_exchange_mean_rmse": round(m["rmse_exchange_mean_baseline"], 2),
        "ipinyou_features": ", ".join(model.features),
        "ipinyou_train_rows": int(m["train_rows"]),
        "ipinyou_test_rows": int(m["test_rows"]),
        "ipinyou_rows_rejected": report.rows_rejected,
        "ipinyou_rounds": rounds,
        "ipinyou_import_s": round(import_s, 2),
        "ipinyou_train_s": round(train_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 boosting rounds, no merge")
    args = parser.parse_args()
    if not IPINYOU.is_file():
        console.print(f"[red]no iPinYou data at {IPINYOU}[/red]")
        raise SystemExit(2)
    load = os.getloadavg()[0]
    result = figures(quick=args.quick)
    table = Table(
        title="iPinYou (last 20% of train.txt held out)" + (" quick" if args.quick else "")
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)
    notes = (
        f"{'QUICK: ' if args.quick else ''}iPinYou campaign 1458 train.txt through the ipinyou "
        "importer; first 80% of rows train, last 20% test (file order is time order); features "
        "the exchange id and the authors' predicted CTR (the click is an outcome, never a "
        "feature); baselines the training mean and the per-exchange training mean. "
        f"Load average {load:.1f} (2 shared cores)."
    )
    path = write_result("pricing_ipinyou", result, notes, quick=args.quick)
    console.print(f"wrote {path}")
    if not args.quick:
        merged = merge_figures("pricing", result, "pricing_ipinyou.py")
        if merged is not None:
            console.print(f"merged into {merged}")


if __name__ == "__main__":
    main()
