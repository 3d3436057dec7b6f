"""Pricing benchmark: model quality, floor revenue, in-process scoring and the 50M-row day.

    .venv/bin/python benchmarks/pricing.py [--quick] [--skip-day | --day-only]

* quality: a simulated history (4 days; 1M requests a day, 150k with --quick) trained through
  the lake pipeline; RMSE against the best per-segment-mean baseline and 80% interval coverage
  on the held-out last day;
* floors: that day replayed under no / best static / seed / tuned dynamic floors (block
  bootstrap CI); the headline uplift is the tuned floor's, the seed formula's is reported too;
* iPinYou: the real sample through ``ssmas pricing``'s importer (exchange id and the authors'
  CTR as the only features), first 80% of the file to train, last 20% to test, RMSE against
  the training mean and the per-exchange training mean (``pricing_ipinyou.py``);
* in-process scoring: ``Booster.inplace_predict`` on a float32 matrix (1 and 2 threads);
* the full day: a 50M-row day (generated once with ``ssmas exchange simulate`` and kept under
  --cache) goes lake → features → train → evaluate → register in a child process that reports
  its own wall time and peak RSS. --quick does the same with a 1M-row day; --day-only reruns
  just this part and merges it into the last results file (--skip-day keeps the last one).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from _report import write_result  # noqa: E402
from pricing_floors import MERGED as FLOOR_KEYS  # noqa: E402

IPINYOU = ROOT.parent / "shared" / "data" / "ipinyou" / "train.txt"
HISTORY_START = date(2026, 3, 2)  # Monday: days 1-2 train, 3 calibration, 4 (Thursday) test
DAY = date(2024, 10, 23)  # the full day (a Wednesday), as in the exchange benchmark
console = Console()


def quality_and_floors(volume: int, threads: int, work: Path) -> tuple[dict[str, Any], Any]:
    """Train on a simulated 4-day history and replay its last day under floor policies."""
    from ssmas.exchange import SimulationConfig, simulate_to_lake
    from ssmas.pricing.floors.simulation import simulate_floors
    from ssmas.pricing.floors.simulation_report import write_plot
    from ssmas.pricing.model.training import train_from_lake

    lake = work / "history"
    end = HISTORY_START + timedelta(days=3)
    started = time.perf_counter()
    simulate_to_lake(SimulationConfig(HISTORY_START, 4, float(volume), seed=11, workers=2), lake)
    simulate_s = time.perf_counter() - started
    result = train_from_lake(lake, HISTORY_START, end, threads=threads, seed=0)
    report = simulate_floors(lake, HISTORY_START, end, result.model, n_boot=2000)
    write_plot(report, HERE / "results" / "pricing_floors.png")
    m, tuned, seed = result.metrics, report.policies["tuned"], report.policies["seed"]
    assert tuned.uplift_ci95_pct is not None and seed.uplift_ci95_pct is not None
    figures = {
        "rmse_ratio_vs_segment_baseline": round(m["rmse_ratio_vs_segment_baseline"], 4),
        "interval80_coverage": round(m["interval80_coverage"], 4),
        "floor_uplift_pct": round(float(tuned.uplift_vs_static_pct or 0.0), 2),
        "floor_uplift_ci_low_pct": round(tuned.uplift_ci95_pct[0], 2),
        "replay_fill_rate_drop_pts": round(-float(tuned.fill_change_vs_static_pts or 0.0), 2),
        "seed_floor_uplift_pct": round(float(seed.uplift_vs_static_pct or 0.0), 2),
        "seed_floor_uplift_ci_low_pct": round(seed.uplift_ci95_pct[0], 2),
        "seed_fill_rate_drop_pts": round(-float(seed.fill_change_vs_static_pts or 0.0), 2),
        "test_rmse_eur": round(m["test_rmse"], 4),
        "segment_baseline_rmse_eur": round(m["baseline_segment_rmse"], 4),
        "mean_baseline_rmse_eur": round(m["baseline_mean_rmse"], 4),
        "static_floor_eur": report.static_floor,
        "tuned_rule": f"{report.tuned_k:.2f} x {report.tuned_basis}",
        "history_requests": volume * 4,
        "history_simulate_s": round(simulate_s, 1),
    }
    return figures, result.model


def ipinyou() -> dict[str, Any]:
    """The iPinYou figures as ``benchmarks/pricing_ipinyou.py`` measures them (the importer,
    the log model, both baselines), so the two scripts never disagree."""
    from pricing_ipinyou import figures

    return figures(path=IPINYOU)


def inprocess(model: Any, rows: int) -> dict[str, Any]:
    """Rows per second of ``inplace_predict`` on a float32 matrix, 1 and 2 threads."""
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(
        rng.random((rows, len(model.schema.feature_names)), dtype=np.float32) * 10
    )
    rates = {}
    for threads in (1, 2):
        model.set_threads(threads)
        model.predict_point(x[:1000])
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            model.predict_point(x)
            best = max(best, rows / (time.perf_counter() - started))
        rates[threads] = best
    return {
        "inprocess_rows_per_s": round(max(rates.values())),
        "inprocess_rows_per_s_1thread": round(rates[1]),
        "inprocess_rows_per_s_2threads": round(rates[2]),
    }


def ensure_day(volume: str, lake: Path) -> float:
    """Generate the benchmark day with the exchange CLI unless it is already there."""
    from ssmas.exchange import lake_days

    if lake.exists() and DAY in lake_days(lake):
        return 0.0
    started = time.perf_counter()
    cmd = [str(ROOT / ".venv" / "bin" / "ssmas"), "exchange", "simulate", "--start",
           DAY.isoformat(), "--days", "1", "--impressions-per-day", volume, "--out", str(lake),
           "--workers", "2", "--no-aggregate"]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def day_pipeline(lake: Path, threads: int, train_fraction: float) -> dict[str, Any]:
    """Run the pipeline in a child process; it reports its own time and peak RSS."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--pipeline-child", str(lake),
           "--threads", str(threads), "--train-fraction", str(train_fraction)]  # fmt: skip
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def pipeline_child(lake: Path, threads: int, train_fraction: float) -> None:
    """lake → features → train → evaluate → register, timed; prints one JSON line."""
    from ssmas.core.registry import registry_from_settings
    from ssmas.pricing.model.training import train_from_lake
    from ssmas.settings import Settings

    with tempfile.TemporaryDirectory(prefix="ssmas-pricing-bench-") as tmp:
        registry = registry_from_settings(Settings(profile="test", data_dir=Path(tmp)))
        registry.list_versions("warm-up")  # MLflow's schema migration is not the pipeline's
        started = time.perf_counter()
        result = train_from_lake(
            lake, DAY, DAY, registry=registry, threads=threads, train_fraction=train_fraction
        )
        seconds = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({"seconds": seconds, "peak_rss_gb": peak_gb, "timings": result.timings,
                      "metrics": result.metrics}))  # fmt: skip


DAY_NOTE = "Full day:"


def day_figures(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The lake → register pipeline on the full (or --quick 1M) day."""
    day_volume = args.day_volume or ("1M" if args.quick else "50M")
    fraction = args.train_fraction or (1.0 if args.quick else 0.25)
    lake = args.cache / f"pricing-day-{day_volume}"
    generate_s = ensure_day(day_volume, lake)
    day = day_pipeline(lake, args.threads, fraction)
    figures = {
        "day_50m_pipeline_s": round(day["seconds"], 1),
        "day_50m_peak_rss_gb": round(day["peak_rss_gb"], 2),
        "day_rows": day_volume,
        "day_train_fraction": fraction,
        "day_train_rows": int(day["metrics"]["train_rows"]),
        "day_test_rmse_ratio_vs_segment": round(
            day["metrics"]["rmse_ratio_vs_segment_baseline"], 4
        ),
        "day_interval80_coverage": round(day["metrics"]["interval80_coverage"], 4),
        "day_stage_s": {k: round(v, 1) for k, v in day["timings"].items()},
    }
    if generate_s > 0:
        figures["day_generate_s"] = round(generate_s, 1)
    note = (
        f"{DAY_NOTE} {day_volume} requests, one day, so the in-hour block split (minutes 0-39 "
        f"train, 40-49 calibration, 50-59 test); training on a {fraction:.0%} id-hash sample "
        "of the training rows streamed from DuckDB into a QuantileDMatrix, calibration and "
        "test on every row, registration in MLflow; generation (ssmas exchange simulate, kept "
        "under --cache between runs) not timed. Load average "
        f"{os.getloadavg()[0]:.1f} at the end of the day run."
    )
    return figures, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small history and a 1M-row day")
    parser.add_argument("--skip-day", action="store_true", help="skip the full-day pipeline")
    parser.add_argument(
        "--day-only", action="store_true", help="rerun only the day; merge into the last results"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-fraction", type=float, default=None)
    parser.add_argument("--cache", type=Path, default=ROOT / ".ssmas" / "bench")
    parser.add_argument("--history-volume", type=int, default=None, help="requests a day")
    parser.add_argument("--day-volume", default=None, help="full-day requests, e.g. 50M, 1M")
    parser.add_argument("--pipeline-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline_child is not None:
        pipeline_child(args.pipeline_child, args.threads, args.train_fraction or 1.0)
        return
    notes: list[str] = []
    figures: dict[str, Any] = {}
    previous = HERE / "results" / ("pricing.quick.json" if args.quick else "pricing.json")
    last = json.loads(previous.read_text()) if previous.exists() else None
    if args.day_only:
        if last is not None:
            figures = {k: v for k, v in last["figures"].items() if not k.startswith("day_")}
            notes.append(last["notes"].split(DAY_NOTE)[0].strip())
    else:
        load_before = os.getloadavg()[0]
        volume = args.history_volume or (150_000 if args.quick else 1_000_000)
        with tempfile.TemporaryDirectory(prefix="ssmas-pricing-bench-") as tmp:
            figures, model = quality_and_floors(volume, args.threads, Path(tmp))
        figures.update(ipinyou())
        figures.update(inprocess(model, 200_000 if args.quick else 2_000_000))
        notes.append(
            f"{'QUICK: ' if args.quick else ''}history 4 days x {volume:,} requests (seed 11). "
            "floor_uplift_pct / _ci_low / replay_fill_rate_drop_pts are the tuned dynamic floor "
            "(clip(k x prediction), basis and k chosen on the calibration day) against the best "
            "single static floor found on the training days; seed_* are the seed's formula as "
            "written (all on the logged bids; responsive-bidder figures: pricing_floors.py). "
            "replay_fill_rate_drop_pts > 0 means fewer fills than the static floor. Load "
            f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after the history part "
            "(2 shared cores)."
        )
    if not args.skip_day:
        day, note = day_figures(args)
        figures.update(day)
        notes.append(note)
    elif last is not None and DAY_NOTE in last["notes"]:  # keep the last full-day figures
        figures.update({k: v for k, v in last["figures"].items() if k.startswith("day_")})
        notes.append(DAY_NOTE + last["notes"].split(DAY_NOTE, 1)[1])
    table = Table(title="pricing benchmark" + (" (quick)" if args.quick else ""))
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console.print(table)
    # The serving figures come from benchmarks/pricing_serving.py, which merges them in here.
    keep = ("predict_p99_ms", "predict_rate_per_s", "batch1000_p99_ms")
    keep += ("mlflow_serve_throughput_ratio",)
    # The responsive-bidder floor figures come from benchmarks/pricing_floors.py.
    keep += tuple(FLOOR_KEYS)
    path = write_result("pricing", figures, " ".join(notes), quick=args.quick, keep=keep)
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
