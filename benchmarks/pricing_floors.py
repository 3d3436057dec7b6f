"""Floor revenue against bidders that respond: uplift over the best static floor per ad unit.

    .venv/bin/python benchmarks/pricing_floors.py [--quick]

For each simulator seed (101-105; 2 with --quick) a 4-day history (60k requests a day; 3 days
of 15k with --quick) is simulated with every partner's value kept. The model is trained on the
training days' lake, the log-fitted policies (best global static, best static per ad unit, the
Prebid-style rule table, the tuned model floor's k) on the same days. Every policy then runs
with its own responsive bidders (``ssmas.exchange.Bidders``: learned first-price shading,
floor-aware bids, truthful second price, partners pulling back from units whose floors price
them out) over the last training day (warm-up) and the two held-out days (one with --quick),
which are measured. The tuned policy's first-price ad units get the floor chosen per unit by
re-running the training days with responsive bidders (``fit_first_price``). Uplifts are
against the best static floor per ad unit, averaged over the
(seed, held-out day) pairs with a 95% t-interval across them. The figures are merged into
``results/pricing.json``; the full table goes to ``results/pricing_floors.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import merge_figures, write_result  # noqa: E402

START = date(2026, 3, 2)  # Monday
SEEDS = (101, 102, 103, 104, 105)
console = Console(width=120)  # the table stays whole in logs
MERGED = (
    "floor_uplift_vs_best_static_per_unit_pct",
    "floor_uplift_per_unit_ci_low_pct",
    "first_price_uplift_pct",
    "first_price_uplift_ci95_pct",
    "second_price_uplift_pct",
    "fill_rate_drop_pts",
    "seed_formula_uplift_pct",
    "prebid_rules_uplift_pct",
    "bandit_floor_uplift_pct",
    "floor_eval_pairs",
    "floor_uplift_seed_level_ci95_pct",
    "floor_uplift_fixed_bidders_pct",
)


def run(quick: bool) -> dict[str, Any]:
    from ssmas.pricing.floors.responsive import POLICIES, evaluate_seed, summarise

    seeds = SEEDS[:2] if quick else SEEDS
    days, held_out, volume = (3, 1, 15_000.0) if quick else (4, 2, 60_000.0)
    runs = []
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("floor policies", total=len(seeds) * len(POLICIES))

        def step(label: str) -> None:
            progress.update(task, description=label)
            progress.advance(task)

        for seed in seeds:
            run = evaluate_seed(
                seed, START, days, volume, held_out=held_out, progress=step,
                fixed_reference=("per_unit", "tuned"),
            )  # fmt: skip
            runs.append(run)
    summary = summarise(runs, candidate="tuned")
    p = summary["policies"]
    figures: dict[str, Any] = {
        "floor_uplift_vs_best_static_per_unit_pct": summary[
            "floor_uplift_vs_best_static_per_unit_pct"
        ],
        "floor_uplift_per_unit_ci_low_pct": summary["floor_uplift_per_unit_ci_low_pct"],
        "first_price_uplift_pct": summary["first_price_uplift_pct"],
        "first_price_uplift_ci95_pct": summary["first_price_uplift_ci95_pct"],
        "second_price_uplift_pct": summary["second_price_uplift_pct"],
        "fill_rate_drop_pts": summary["fill_rate_drop_pts"],
        "seed_formula_uplift_pct": p["seed"]["uplift_vs_per_unit_pct"],
        "prebid_rules_uplift_pct": p["prebid"]["uplift_vs_per_unit_pct"],
        "bandit_floor_uplift_pct": p["bandit"]["uplift_vs_per_unit_pct"],
        "floor_eval_pairs": summary["pairs"],
        "floor_uplift_seed_level_ci95_pct": summary["seed_level_ci95_pct"],
        "floor_uplift_fixed_bidders_pct": summary["fixed_bidders_uplift_pct"],
        "floor_uplift_pairs_pct": summary["pair_uplifts_pct"],
        "floor_eval_s": round(time.perf_counter() - started, 1),
        "floor_eval_seeds": list(seeds),
        "floor_eval_requests_per_day": int(volume),
        "policies": p,
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 3 small days, no merge")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    figures = run(args.quick)
    table = Table(title="floor policies vs best static per ad unit (responsive bidders)")
    for column in ("policy", "uplift %", "95% CI", "first-price %", "second-price %", "fill",
                   "bidder surplus EUR", "revenue EUR"):  # fmt: skip
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, row in figures["policies"].items():
        low, high = row["uplift_ci95_pct"]
        table.add_row(
            name, f"{row['uplift_vs_per_unit_pct']:+.2f}", f"[{low:+.2f}, {high:+.2f}]",
            f"{row['first_price_uplift_pct']:+.2f}", f"{row['second_price_uplift_pct']:+.2f}",
            f"{100 * row['fill_rate']:.2f}%", f"{row['bidder_surplus_eur']:.2f}",
            f"{row['revenue_eur']:.2f}",
        )  # fmt: skip
    console.print(table)
    notes = (
        f"{'QUICK: ' if args.quick else ''}seeds {figures['floor_eval_seeds']} x held-out days "
        f"= {figures['floor_eval_pairs']} pairs, {figures['floor_eval_requests_per_day']:,} "
        "requests a day. Candidate = tuned model floor clip(k x prediction), k fitted on the "
        "last training day's logged bids; on first-price ad units the floor each unit earned "
        "most with in a re-run of the two training days with responsive bidders (candidates: "
        "static floors and multiples of the same prediction); every policy fitted on the "
        "training days' logs and run with its own responsive bidders (default BidderConfig, "
        "chosen on seed 11 before these seeds were run; the first-price choice method was "
        "compared on seeds 12-16 only) over a warm-up day and the held-out days. Uplifts vs "
        "the best static floor per ad unit; CI = 95% t-interval across pairs; revenue / fill / "
        "surplus are means per held-out day. fill_rate_drop_pts > 0 = fewer fills than the "
        f"baseline. Load average {load:.1f} before (2 shared cores)."
    )
    path = write_result("pricing_floors", figures, notes, quick=args.quick)
    console.print(f"wrote {path}")
    if not args.quick:
        merged = merge_figures("pricing", {k: figures[k] for k in MERGED}, "pricing_floors.py")
        if merged is not None:
            console.print(f"merged into {merged}")


if __name__ == "__main__":
    main()
