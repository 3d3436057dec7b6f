"""Run the detector over a NAB data folder and score it: the service behind ``ssmas adops nab``
and ``benchmarks/adops_detect.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ssmas.adops.detect import DetectorConfig, score_series
from ssmas.adops.nab.corpus import Series, layout_series, load_corpus, read_profiles, read_windows
from ssmas.adops.nab.evaluate import ProfileReport, score_corpus
from ssmas.adops.nab.scoring import FloatArray

__all__ = [
    "DETECTOR_NAME",
    "NabRun",
    "detect_corpus",
    "read_thresholds",
    "run_nab",
    "thresholds_document",
]

DETECTOR_NAME = "ssmas-robust-ensemble"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class NabRun:
    """What one run scored: the files, the scores per profile, the thresholds' origin."""

    series: list[Series]
    reports: dict[str, ProfileReport]
    thresholds_from: str | None

    @property
    def points(self) -> int:
        return sum(len(s.values) for s in self.series)

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": DETECTOR_NAME,
            "files": len(self.series),
            "points": self.points,
            "thresholds_from": self.thresholds_from or "swept on this data",
            "profiles": {name: report.as_dict() for name, report in self.reports.items()},
        }


def detect_corpus(
    series: Sequence[Series],
    config: DetectorConfig | None = None,
    progress: Progress | None = None,
) -> list[FloatArray]:
    """The detector's scores for every file, each file on a fresh detector."""
    out = []
    for item in series:
        if progress is not None:
            progress(item.name)
        out.append(score_series(item.values, config))
    return out


def read_thresholds(path: Path, config: DetectorConfig | None = None) -> dict[str, float]:
    """A thresholds file written by :func:`thresholds_document` (``--write-thresholds``).

    Thresholds belong to one detector configuration: a file that names another is refused.
    """
    if not path.is_file():
        raise FileNotFoundError(f"thresholds file {path} does not exist")
    try:
        body = json.loads(path.read_text())
        thresholds = {name: float(e["threshold"]) for name, e in body["profiles"].items()}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        raise ValueError(
            f"thresholds file {path}: expected {{'profiles': {{name: {{'threshold': number}}}}}}"
        )
    ours = json.loads(json.dumps(asdict(config or DetectorConfig())))
    if "config" in body and body["config"] != ours:
        raise ValueError(f"thresholds file {path} was chosen for another detector configuration")
    return thresholds


def thresholds_document(run: NabRun, config: DetectorConfig | None = None) -> dict[str, Any]:
    """The chosen thresholds, with the detector configuration they belong to."""
    return {
        "detector": DETECTOR_NAME,
        "config": asdict(config or DetectorConfig()),
        "chosen_on": sorted({s.family for s in run.series}),
        "profiles": {
            name: {"threshold": r.threshold, "score": r.corpus.score}
            for name, r in run.reports.items()
        },
    }


def run_nab(
    data_dir: Path,
    labels_file: Path,
    profiles_file: Path | None = None,
    thresholds_file: Path | None = None,
    config: DetectorConfig | None = None,
    progress: Progress | None = None,
) -> NabRun:
    """Detect on every CSV under ``data_dir`` and score it against ``labels_file``.

    Thresholds are NAB's corpus sweep on this data, or those of ``thresholds_file``. Every input
    is read and checked before the detector runs.
    """
    profiles = read_profiles(profiles_file)
    thresholds: Mapping[str, float] | None = None
    if thresholds_file is not None:
        thresholds = read_thresholds(thresholds_file, config)
    windows = read_windows(labels_file)
    series = load_corpus(data_dir)
    layouts = [layout_series(s, windows) for s in series]
    scores = detect_corpus(series, config, progress)
    families = [s.family for s in series]
    reports = score_corpus(layouts, scores, families, profiles, thresholds)
    origin = str(thresholds_file) if thresholds_file is not None else None
    return NabRun(series, reports, origin)
