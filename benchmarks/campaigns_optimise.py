"""Campaign optimisation benchmark, the forecast part (issue 17): a rolling-origin backtest on
``../shared/data/forecast/peyton_manning_train.csv`` (daily log page views, 2007-12 → 2015-01).

Backtest: origins every 30 days over the last year (12 windows, laid out as statsforecast's
``cross_validation(h=30, step_size=30, n_windows=12)``: the last window ends at the last point),
horizon 30, every model refitted at every origin. Our ensemble's weights and interval calibration
at each scored origin come only from the 12 windows before it (origins every 30 days over the
year before), so nothing scored is seen when it is learnt.

Figures:
- ``forecast_mase_vs_naive``: the ensemble's MAE over the scored windows ÷ statsforecast's
  seasonal naive (period 7, the weekly cycle of daily data) MAE in the same windows, on the same
  observed points (days missing from the file are filled for fitting and never scored);
- ``forecast_vs_statsforecast_best``: the ensemble's MAE ÷ the MAE of the best plain
  statsforecast model (seasonal naive, AutoETS, AutoTheta, MSTL with week and year, AutoARIMA, at
  their default settings) run by ``StatsForecast.cross_validation`` on the same windows;
- ``forecast_interval_coverage``: the share of observed points inside our 80% intervals;
  ``statsforecast_best_coverage`` is the best peer's own 80% intervals' share.

    .venv/bin/python benchmarks/campaigns_optimise.py [--quick] [--csv FILE]

``--quick`` (under a minute, for the test) scores 3 windows with 4 calibration windows each on the
last four years, without AutoARIMA in the ensemble or the peers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import RESULTS, write_result  # noqa: E402
from ssmas.campaigns.forecast import (  # noqa: E402
    Evaluation,
    Series,
    evaluate_series,
    prepare_series,
    read_series_csv,
)

NAME = "campaigns_optimise"
HORIZON, STEP = 30, 30
TARGET_MASE, TARGET_VS_BEST, TARGET_COVERAGE_PTS = 0.87, 1.0, 5.0


# figures the experiment and ROI parts of this benchmark write (kept when this part runs alone)
def other_keys(measured: dict[str, Any]) -> tuple[str, ...]:
    """The figures other scripts merged into the results file (experiments, bandits, ROI): a
    forecast run keeps every one it does not measure itself."""
    previous = RESULTS / f"{NAME}.json"
    if not previous.exists():
        return ()
    return tuple(k for k in json.loads(previous.read_text())["figures"] if k not in measured)


DATA = Path("data") / "forecast" / "peyton_manning_train.csv"
console = Console(stderr=True)


def default_csv() -> Path:
    """``shared/data/forecast/…`` next to the checkout or any folder above it (worktrees)."""
    for folder in HERE.parents:
        candidate = folder / "shared" / DATA
        if candidate.is_file():
            return candidate
    raise SystemExit(f"cannot find shared/{DATA} above {HERE}; pass --csv")


def peers(series: Series, windows: int, quick: bool) -> tuple[dict[str, float], dict[str, float]]:
    """Plain statsforecast models through its own cross-validation: MAE and 80% coverage on
    the observed points of the same windows."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    models: list[Any] = [SeasonalNaive(7), AutoETS(season_length=7), MSTL(season_length=[7, 365])]
    if not quick:
        models += [AutoTheta(season_length=7), AutoARIMA(season_length=7)]
    frame = pd.DataFrame({"unique_id": "series", "ds": series.ds, "y": series.y})
    observed = pd.Series(series.observed, index=series.ds)
    maes: dict[str, float] = {}
    coverage: dict[str, float] = {}
    for model in models:
        name = str(model)
        started = time.perf_counter()
        console.print(f"peer {name}: statsforecast cross_validation …", highlight=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cv = StatsForecast(models=[model], freq=series.freq).cross_validation(
                df=frame, h=HORIZON, step_size=STEP, n_windows=windows, level=[80]
            )
        scored = observed.reindex(cv["ds"]).to_numpy()
        errors = (cv[name] - cv["y"]).abs().to_numpy()[scored]
        inside = (cv["y"] >= cv[f"{name}-lo-80"]) & (cv["y"] <= cv[f"{name}-hi-80"])
        maes[name] = float(errors.mean())
        coverage[name] = float(inside.to_numpy()[scored].mean())
        console.print(
            f"peer {name}: MAE {maes[name]:.4f} in {time.perf_counter() - started:.0f} s",
            highlight=False,
        )
    return maes, coverage


def ours(series: Series, windows: int, calibration: int, quick: bool) -> Evaluation:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("ensemble backtest", total=None)

        def say(done: int, total: int, message: str) -> None:
            progress.update(task, completed=done, total=total, description=message)

        return evaluate_series(
            series,
            HORIZON,
            step=STEP,
            windows=windows,
            calibration_windows=calibration,
            level=80.0,
            with_arima=not quick,
            progress=say,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 scored windows, no AutoARIMA")
    parser.add_argument("--csv", type=Path, default=None, help="a ds,y CSV (default: the file)")
    args = parser.parse_args()
    path = args.csv or default_csv()
    windows, calibration = (3, 4) if args.quick else (12, 12)
    table = read_series_csv(path)
    if args.quick:
        table = table.tail(4 * 365)
    series = prepare_series(table)
    console.print(
        f"{path.name}: {len(series)} {series.freq} points ({series.n_observed} observed), "
        f"seasons {series.seasons}; {windows} windows of {HORIZON} every {STEP}, "
        f"{calibration} calibration windows before each",
        highlight=False,
    )
    started = time.perf_counter()
    evaluation = ours(series, windows, calibration, args.quick)
    ours_s = time.perf_counter() - started
    peer_mae, peer_coverage = peers(series, windows, args.quick)
    cutoffs = [str(c.date()) for c in evaluation.cutoffs]
    best = min(peer_mae, key=lambda name: peer_mae[name])
    naive = peer_mae["SeasonalNaive"]
    figures: dict[str, Any] = {
        "forecast_mase_vs_naive": round(evaluation.ensemble_mae / naive, 4),
        "forecast_vs_statsforecast_best": round(evaluation.ensemble_mae / peer_mae[best], 4),
        "forecast_interval_coverage": round(evaluation.coverage, 4),
        "forecast_ensemble_mae": round(evaluation.ensemble_mae, 4),
        "forecast_seasonal_naive_mae": round(naive, 4),
        "statsforecast_best": best,
        "statsforecast_best_mae": round(peer_mae[best], 4),
        "statsforecast_best_coverage": round(peer_coverage[best], 4),
        "statsforecast_peer_mae": {k: round(v, 4) for k, v in peer_mae.items()},
        "statsforecast_peer_coverage": {k: round(v, 4) for k, v in peer_coverage.items()},
        "forecast_member_mae": {k: round(v, 4) for k, v in evaluation.member_mae.items()},
        "forecast_rule_mae": {k: round(v, 4) for k, v in evaluation.rule_mae.items()},
        "forecast_rule_coverage": {k: round(v, 4) for k, v in evaluation.rule_coverage.items()},
        "forecast_rules_chosen": list(evaluation.rules_chosen),
        "forecast_windows": windows,
        "forecast_calibration_windows": calibration,
        "forecast_cutoffs": cutoffs,
        "forecast_ensemble_backtest_s": round(ours_s, 1),
    }
    report(evaluation, peer_mae, peer_coverage, figures)
    notes = (
        f"{path.name}, {len(series)} daily points ({series.n_observed} observed). Rolling-origin "
        f"backtest: {windows} origins every {STEP} days over the last year (cutoffs {cutoffs[0]} "
        f"… {cutoffs[-1]}), horizon {HORIZON}, refit at each origin; scored on observed days only. "
        "forecast_mase_vs_naive = ensemble MAE / seasonal-naive(7) MAE over the same windows "
        "(the ratio of out-of-sample MAEs, not Hyndman's in-sample-scaled MASE). "
        "forecast_vs_statsforecast_best = ensemble MAE / best plain statsforecast model's MAE "
        "(StatsForecast.cross_validation, same windows, default settings). Ensemble: members "
        "seasonal naive, AutoETS, AutoARIMA (small stepwise search on the last 2 years), MSTL "
        "(7, 365) and recursive XGBoost on level-relative lags + calendar; rule chosen per origin "
        "by leave-one-window-out MAE over the previous "
        f"{calibration} windows (median, inverse-MAE, best, top-2 mean, LAD stacking); 80% "
        "intervals split-conformal on those windows' residuals, scaled per horizon step."
        + (
            " QUICK: last 4 years, 3 windows, 4 calibration windows, no AutoARIMA."
            if args.quick
            else ""
        )
    )
    path_out = write_result(NAME, figures, notes, quick=args.quick, keep=other_keys(figures))
    console.print(f"wrote {path_out}", highlight=False)


def report(
    evaluation: Evaluation,
    peer_mae: dict[str, float],
    peer_coverage: dict[str, float],
    figures: dict[str, Any],
) -> None:
    naive = figures["forecast_seasonal_naive_mae"]
    table = Table(title="forecast backtest: MAE, ratio to seasonal naive, 80% coverage")
    for column in ("forecaster", "MAE", "÷ seasonal naive", "80% coverage"):
        table.add_column(column, justify="left" if column == "forecaster" else "right")
    for name, mae in evaluation.rule_mae.items():
        cover = evaluation.rule_coverage[name]
        table.add_row(f"ours: {name}", f"{mae:.4f}", f"{mae / naive:.3f}", f"{cover:.3f}")
    for name, mae in evaluation.member_mae.items():
        table.add_row(f"member {name}", f"{mae:.4f}", f"{mae / naive:.3f}", "")
    for name, mae in peer_mae.items():
        table.add_row(
            f"statsforecast {name}",
            f"{mae:.4f}",
            f"{mae / naive:.3f}",
            f"{peer_coverage[name]:.3f}",
        )
    Console().print(table)
    checks = [
        ("forecast_mase_vs_naive", figures["forecast_mase_vs_naive"], f"≤ {TARGET_MASE}",
         figures["forecast_mase_vs_naive"] <= TARGET_MASE),
        ("forecast_vs_statsforecast_best", figures["forecast_vs_statsforecast_best"],
         f"≤ {TARGET_VS_BEST} (peer {figures['statsforecast_best']})",
         figures["forecast_vs_statsforecast_best"] <= TARGET_VS_BEST),
        ("forecast_interval_coverage", figures["forecast_interval_coverage"], "0.75 to 0.85",
         abs(100 * figures["forecast_interval_coverage"] - 80) <= TARGET_COVERAGE_PTS),
    ]  # fmt: skip
    targets = Table(title="targets")
    for column in ("figure", "value", "target", "met"):
        targets.add_column(column)
    for name, value, target, met in checks:
        targets.add_row(name, f"{value}", target, "yes" if met else "NO")
    Console().print(targets)


if __name__ == "__main__":
    main()
