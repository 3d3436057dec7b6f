"""Campaign experiments benchmark (issue 17, item 1): is it safe to look every day?

Simulates 1,000 conversion-rate experiments, each looked at after every batch of units, and
counts how many declare a winner at some look:

- ``aa_naive_fpr``: A/A (both arms convert at 10%), stopping at the first look where the
  fixed-horizon two-proportion z-test gives p < 0.05 (naive peeking);
- ``aa_sequential_fpr``: the same A/A experiments, stopping at the first look where the
  always-valid confidence sequence (``ssmas.campaigns.experiments.sequential``) excludes no
  effect; it must stay ≤ 0.05;
- ``aa_fixed_fpr``: the z-test at the last look only (what alpha 0.05 means, for reference);
- ``aa_sequential_power``: the share of A/B experiments (10% → 11%, a 10% relative lift) in
  which the sequence excludes zero, on the right side, by the last look; ``fixed_power`` is the
  z-test's at the last look, and ``sequential_median_stop_fraction`` the median share of the
  units seen when the sequence first excluded zero, among the experiments that stopped.

- ``cuped_variance_ratio``: CUPED's adjusted variance of the lift over the raw one (median over
  1,000 experiments on a mean metric whose pre-period value correlates 0.7 with it), and
  ``cuped_power`` against ``cuped_raw_power``: Welch's test at alpha 0.05 finding a 1% lift
  with 2,000 units per arm, with and without CUPED.

The sequence is tuned (``tuning``) for the final total sample of both arms. The figures are
written to ``results/campaigns_experiments.json`` and merged into ``campaigns_optimise.json``.

    .venv/bin/python benchmarks/campaigns_experiments.py [--quick] [--seed N]

``--quick`` looks 10 times instead of 50 (same 1,000 experiments, same units).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.stats import norm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import merge_figures, write_result  # noqa: E402
from ssmas.campaigns.experiments.cuped import CupedArm, cuped  # noqa: E402
from ssmas.campaigns.experiments.frequentist import welch_t_test  # noqa: E402
from ssmas.campaigns.experiments.sequential import halfwidth  # noqa: E402
from ssmas.campaigns.experiments.summary import ArmSummary, lift_moments  # noqa: E402

NAME = "campaigns_experiments"
EXPERIMENTS = 1000
UNITS_PER_ARM = 20_000
BASE_RATE, LIFTED_RATE = 0.10, 0.11
ALPHA = 0.05


def simulate(
    rng: np.random.Generator, looks: int, treatment_rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per look: the relative lift, its variance, the z-test's p-value and the sequence's
    half-width, each an (experiments, looks) array."""
    batch = UNITS_PER_ARM // looks
    conv_c = rng.binomial(batch, BASE_RATE, size=(EXPERIMENTS, looks)).cumsum(axis=1)
    conv_t = rng.binomial(batch, treatment_rate, size=(EXPERIMENTS, looks)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1, dtype=float)
    pc, pt = conv_c / n, conv_t / n
    lift, var = lift_moments(pc, pc * (1 - pc), n, pt, pt * (1 - pt), n)
    p_naive = 2 * norm.sf(np.abs(lift) / np.sqrt(var))
    width = halfwidth(var, 2 * n, alpha=ALPHA, tuning=2.0 * UNITS_PER_ARM)
    return lift, var, p_naive, width


def measure(looks: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    lift, _, p_naive, width = simulate(rng, looks, BASE_RATE)
    excluded = np.abs(lift) > width
    aa = {
        "aa_naive_fpr": float(np.mean((p_naive < ALPHA).any(axis=1))),
        "aa_sequential_fpr": float(np.mean(excluded.any(axis=1))),
        "aa_fixed_fpr": float(np.mean(p_naive[:, -1] < ALPHA)),
    }
    lift, _, p_naive, width = simulate(rng, looks, LIFTED_RATE)
    wins = lift > width
    stopped = wins.any(axis=1)
    first = np.argmax(wins, axis=1)
    ab = {
        "aa_sequential_power": float(np.mean(stopped)),
        "fixed_power": float(np.mean((p_naive[:, -1] < ALPHA) & (lift[:, -1] > 0))),
        "sequential_median_stop_fraction": (
            float(np.median((first[stopped] + 1) / looks)) if stopped.any() else None
        ),
    }
    return {**aa, **ab}


def measure_cuped(seed: int, experiments: int = EXPERIMENTS, units: int = 2000) -> dict[str, Any]:
    """CUPED against the raw metric on the same simulated experiments (a 1% relative lift)."""
    rng = np.random.default_rng(seed)
    corr, lift = 0.7, 0.01
    ratios, raw_hits, cuped_hits = [], 0, 0
    for _ in range(experiments):
        arms = []
        for scale in (1.0, 1.0 + lift):
            pre = rng.normal(0, 1, units)
            post = 10 + 2 * (corr * pre + np.sqrt(1 - corr**2) * rng.normal(0, 1, units))
            arms.append((post * scale, 10 + 2 * pre))
        raw = welch_t_test(*(ArmSummary.from_values(p) for p, _ in arms), kind="relative")
        c, t, _ = cuped(*(CupedArm.from_values(p, x) for p, x in arms))
        adjusted = welch_t_test(c, t, kind="relative")
        ratios.append((adjusted.se / raw.se) ** 2)
        raw_hits += raw.p_value < ALPHA and raw.lift > 0
        cuped_hits += adjusted.p_value < ALPHA and adjusted.lift > 0
    return {
        "cuped_variance_ratio": round(float(np.median(ratios)), 4),
        "cuped_power": cuped_hits / experiments,
        "cuped_raw_power": raw_hits / experiments,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 looks instead of 50")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    looks = 10 if args.quick else 50
    start = time.perf_counter()
    measured = {**measure(looks, args.seed), **measure_cuped(args.seed)}
    seconds = time.perf_counter() - start
    figures: dict[str, Any] = {
        **measured,
        "aa_experiments": EXPERIMENTS,
        "aa_looks": looks,
        "aa_units_per_arm": UNITS_PER_ARM,
        "power_effect": f"{BASE_RATE:.0%} -> {LIFTED_RATE:.0%} (relative lift 10%)",
        "aa_simulation_s": round(seconds, 3),
    }
    # Monte Carlo standard error of a rate near 0.05 over 1,000 experiments: about 0.007.
    notes = (
        f"{EXPERIMENTS} simulated two-arm conversion experiments, {UNITS_PER_ARM} units per arm "
        f"in {looks} equal batches, a look after each; base rate {BASE_RATE}, alpha {ALPHA}. "
        "Naive: two-proportion z on the delta-method relative lift at every look. Sequential: "
        "the normal-mixture confidence sequence (Howard et al. 2021; Waudby-Smith et al. 2023 "
        "eq. 9, as GrowthBook's), tuned for the final total sample. Power at "
        f"{figures['power_effect']}. CUPED: 1,000 experiments, 2,000 units per arm, a normal "
        "metric (mean 10, sd 2) with pre-period correlation 0.7, 1% relative lift, Welch's test "
        f"on the delta-method relative lift. Seed {args.seed}."
    )
    path = write_result(NAME, figures, notes, quick=args.quick)
    console = Console()
    console.print(f"wrote {path}", highlight=False)
    if not args.quick:
        keys = (
            "aa_naive_fpr",
            "aa_sequential_fpr",
            "aa_sequential_power",
            "fixed_power",
            "cuped_variance_ratio",
            "cuped_power",
            "cuped_raw_power",
        )
        merged = merge_figures(
            "campaigns_optimise", {k: figures[k] for k in keys}, "campaigns_experiments.py"
        )
        if merged is not None:
            console.print(f"merged {', '.join(keys)} into {merged}", highlight=False)
    table = Table(title=f"A/A and A/B simulation: {EXPERIMENTS} experiments x {looks} looks")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_row("aa_naive_fpr (peeking)", f"{figures['aa_naive_fpr']:.3f}", "shown above")
    table.add_row("aa_sequential_fpr", f"{figures['aa_sequential_fpr']:.3f}", f"<= {ALPHA}")
    table.add_row("aa_fixed_fpr (last look only)", f"{figures['aa_fixed_fpr']:.3f}", "~ alpha")
    table.add_row("aa_sequential_power", f"{figures['aa_sequential_power']:.3f}", "reported")
    table.add_row("fixed_power (last look only)", f"{figures['fixed_power']:.3f}", "reported")
    stop = figures["sequential_median_stop_fraction"]
    table.add_row("sequential_median_stop_fraction", "-" if stop is None else f"{stop:.2f}", "")
    table.add_row(
        "cuped_variance_ratio (corr 0.7)", f"{figures['cuped_variance_ratio']:.3f}", "~0.51"
    )
    table.add_row("cuped_power (1% lift)", f"{figures['cuped_power']:.3f}", "> raw")
    table.add_row("cuped_raw_power", f"{figures['cuped_raw_power']:.3f}", "")
    console.print(table)
    ok = figures["aa_sequential_fpr"] <= ALPHA < figures["aa_naive_fpr"] and (
        figures["cuped_power"] > figures["cuped_raw_power"]
    )
    console.print(f"targets: {'met' if ok else 'NOT met'}", highlight=False)


if __name__ == "__main__":
    main()
