"""AdOps detection benchmark: NAB scores of the detector on the shared NAB families, its speed.

    .venv/bin/python benchmarks/adops_detect.py [--quick] [--data DIR] [--labels FILE]

One detector configuration (``DetectorConfig()``) runs on every CSV of ``../shared/data/nab``
(artificialNoAnomaly, artificialWithAnomaly, realKnownCause, realTraffic); each NAB profile's
threshold is NAB's corpus sweep over all of them. In the same run, two peers are scored by the
same scorer: NAB's null detector (0 by definition) and our implementation of NAB's Windowed
Gaussian (published: 30.0 standard on these families), a check of the scorer end to end.
``ingest_points_per_s`` is the detector alone on one core: every file's points through
``score_series`` (no CSV reading, no scoring), best of three passes. ``--quick`` scores one file
per family.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from scipy.special import erfc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import RESULTS, write_result  # noqa: E402
from ssmas.adops.detect import DetectorConfig, score_series  # noqa: E402
from ssmas.adops.nab import (  # noqa: E402
    DEFAULT_PROFILES,
    ProfileReport,
    Series,
    choose_thresholds,
    layout_series,
    load_corpus,
    read_windows,
    score_corpus,
)
from ssmas.adops.nab.run import DETECTOR_NAME, NabRun, thresholds_document  # noqa: E402

SHORT = {"standard": "standard", "reward_low_FP_rate": "low_fp", "reward_low_FN_rate": "low_fn"}
PUBLISHED = {"ARTime": 73.0, "HTM": 66.9, "CAD-OSE": 64.0, "Windowed Gaussian": 30.0}


def default_nab() -> Path:
    for parent in HERE.parents:
        if (parent / "shared" / "data" / "nab").is_dir():
            return parent / "shared" / "data" / "nab"
    return HERE.parent.parent / "shared" / "data" / "nab"


def windowed_gaussian(values: np.ndarray, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's Windowed Gaussian: two-sided normal tail of each value against the mean and std of
    the previous points (all of them up to ``window``, then the window moved every ``step``)."""
    x = np.nan_to_num(np.asarray(values, dtype=np.float64))
    n = len(x)
    mean, std = np.zeros(n), np.ones(n)
    head = min(n, window)
    counts = np.arange(head)
    sums = np.concatenate(([0.0], np.cumsum(x[: head - 1])))
    squares = np.concatenate(([0.0], np.cumsum(x[: head - 1] ** 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean[:head] = sums / counts
        std[:head] = np.sqrt(np.maximum(squares / counts - mean[:head] ** 2, 0.0))
    for first in range(window, n, step):
        block = slice(first, min(n, first + step))
        seen = x[first - window : first]
        mean[block], std[block] = seen.mean(), seen.std()
    std = np.where(np.nan_to_num(std) == 0.0, 1e-6, std)
    z = np.abs(x - mean) / std
    scores = 1.0 - 0.5 * erfc(z / np.sqrt(2.0))
    scores[0] = 0.0
    return np.nan_to_num(scores)


def pick_quick(series: list[Series]) -> list[Series]:
    """The first file of each family."""
    chosen: dict[str, Series] = {}
    for item in series:
        chosen.setdefault(item.family, item)
    return list(chosen.values())


def detector_speed(series: list[Series], passes: int) -> float:
    config = DetectorConfig()
    points = sum(len(s.values) for s in series)
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        for item in series:
            score_series(item.values, config)
        best = min(best, time.perf_counter() - start)
    return points / best


def held_out_families(
    layouts: list[Any], scores: list[np.ndarray], families: list[str]
) -> dict[str, float | None]:
    """Standard score of each family with the threshold chosen on the other families only: how
    thresholds chosen here carry to families that are not here."""
    standard = {"standard": DEFAULT_PROFILES["standard"]}
    out: dict[str, float | None] = {}
    for family in sorted(set(families)):
        rest = [i for i, f in enumerate(families) if f != family]
        mine = [i for i, f in enumerate(families) if f == family]
        if not rest:
            continue
        chosen = choose_thresholds([layouts[i] for i in rest], [scores[i] for i in rest], standard)
        report = score_corpus(
            [layouts[i] for i in mine],
            [scores[i] for i in mine],
            [family] * len(mine),
            standard,
            chosen,
        )["standard"]
        out[family] = None if report.corpus.score is None else round(report.corpus.score, 2)
    return out


def figures_of(prefix: str, reports: dict[str, ProfileReport]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, report in reports.items():
        short = SHORT.get(name, name)
        out[f"{prefix}_{short}"] = round(report.corpus.score or 0.0, 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one file per family")
    parser.add_argument("--data", type=Path, default=None, help="NAB data folder")
    parser.add_argument("--labels", type=Path, default=None, help="combined_windows.json")
    args = parser.parse_args()
    nab = default_nab()
    data = args.data or nab / "data"
    labels = args.labels or nab / "labels" / "combined_windows.json"

    series = load_corpus(data)
    if args.quick:
        series = pick_quick(series)
    windows = read_windows(labels)
    layouts = [layout_series(s, windows) for s in series]
    families = [s.family for s in series]
    points = sum(len(s.values) for s in series)

    ours, peer = [], []
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("detecting", total=len(series))
        for item in series:
            ours.append(score_series(item.values))
            peer.append(windowed_gaussian(item.values))
            progress.update(task, advance=1, description=item.name)
    reports = score_corpus(layouts, ours, families, DEFAULT_PROFILES)
    peer_reports = score_corpus(layouts, peer, families, DEFAULT_PROFILES)
    null = [np.full(len(s.values), 0.5) for s in series]
    null_reports = score_corpus(layouts, null, families, DEFAULT_PROFILES)
    speed = detector_speed(series, 1 if args.quick else 3)

    figures: dict[str, Any] = {
        "nab_standard": round(reports["standard"].corpus.score or 0.0, 2),
        "nab_low_fp": round(reports["reward_low_FP_rate"].corpus.score or 0.0, 2),
        "nab_low_fn": round(reports["reward_low_FN_rate"].corpus.score or 0.0, 2),
        "ingest_points_per_s": round(speed),
    }
    for family, outcome in reports["standard"].families.items():
        figures[f"nab_standard_{family}"] = (
            round(outcome.score, 2) if outcome.score is not None else None
        )
    for family, score in held_out_families(layouts, ours, families).items():
        figures[f"nab_standard_{family}_held_out"] = score
    figures.update(figures_of("windowed_gaussian", peer_reports))
    figures.update(figures_of("null", null_reports))
    figures.update(
        files=len(series),
        points=points,
        windows=sum(lay.labelled_windows for lay in layouts),
        thresholds={name: round(r.threshold, 6) for name, r in reports.items()},
        standard_tp=reports["standard"].corpus.tp,
        standard_fp=reports["standard"].corpus.fp,
    )

    table = Table(title=f"NAB, {len(series)} files, {points:,} points, corpus thresholds")
    for column in ("detector", "standard", "reward_low_FP", "reward_low_FN"):
        table.add_column(column, justify="left" if column == "detector" else "right")
    for label, rep in ((DETECTOR_NAME, reports), ("windowed gaussian (ours)", peer_reports),
                       ("null", null_reports)):  # fmt: skip
        row = [f"{(r.corpus.score or 0.0):.1f}" for r in rep.values()]
        table.add_row(label, *row)
    for label, value in PUBLISHED.items():
        table.add_row(f"{label} (published, these families)", f"{value:.1f}", "", "")
    console = Console(width=110)
    console.print(table)
    family_table = Table(title="standard profile per family (the corpus threshold)")
    for column in ("family", "files", "windows", "score", "held out", "TP", "FP"):
        family_table.add_column(column, justify="left" if column == "family" else "right")
    for family, o in reports["standard"].families.items():
        score = "—" if o.score is None else f"{o.score:.1f}"
        held = figures.get(f"nab_standard_{family}_held_out")
        held_text = "—" if held is None else f"{held:.1f}"
        row = (family, str(o.files), str(o.windows), score, held_text, str(o.tp), str(o.fp))
        family_table.add_row(*row)
    console.print(family_table)
    console.print(f"detector alone: {speed:,.0f} points/s on one core")

    notes = (
        f"{len(series)} NAB files ({points} points) from ../shared/data/nab, one DetectorConfig() "
        "for all; thresholds per profile by NAB's sweep over the whole corpus; scores normalised "
        "100*(raw-null)/(perfect-null) as NAB. ingest_points_per_s: the detector alone "
        "(score_series over every file's values in one process, no CSV reading or scoring), "
        "best of 3 passes. Peers in the same run: NAB's null detector and our implementation of "
        "NAB's Windowed Gaussian (6400-point window, step 100). nab_standard_<family>_held_out: "
        "the family scored with the threshold swept on the other families only. "
        "Published on these four "
        "families: ARTime 73.0, HTM 66.9, CAD-OSE 64.0, Windowed Gaussian 30.0."
    )
    # figures benchmarks/adops_live.py merges into this file (the live exchange's faults)
    live = (
        "detect_within_2_windows_pct",
        "false_incidents_per_day",
        "incident_per_fault",
        "stream_ingest_points_per_s",
        "live_faults",
        "live_incidents",
        "live_false_incidents",
        "live_measured_days",
        "live_trial_s",
        "live_by_kind",
    )
    write_result("adops_detect", figures, notes, quick=args.quick, keep=live)
    if not args.quick:
        # the file ``ssmas adops nab --thresholds`` takes, to score other families
        chosen = thresholds_document(NabRun(series, reports, None))
        (RESULTS / "adops_nab_thresholds.json").write_text(json.dumps(chosen, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
