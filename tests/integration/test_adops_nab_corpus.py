"""NAB's reference points on NAB's own files and labels: null scores 0, perfect scores 100."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ssmas.adops.nab import (
    DEFAULT_PROFILES,
    layout_series,
    load_corpus,
    perfect_scores,
    read_profiles,
    read_windows,
    score_corpus,
)

ROOT = Path(__file__).resolve().parents[2]
NAB = next(p / "shared" / "data" / "nab" for p in ROOT.parents if (p / "shared").is_dir())


@pytest.fixture(scope="module")
def corpus() -> tuple[list, list, list]:
    series = load_corpus(NAB / "data")
    windows = read_windows(NAB / "labels" / "combined_windows.json")
    return series, [layout_series(s, windows) for s in series], [s.family for s in series]


def test_profiles_file_is_nabs_three_profiles() -> None:
    assert read_profiles(NAB / "config" / "profiles.json") == DEFAULT_PROFILES


def test_null_scores_0_and_perfect_scores_100(corpus: tuple[list, list, list]) -> None:
    series, layouts, families = corpus
    assert len(series) == 25 and sum(lay.windows for lay in layouts) == 39
    null = [np.full(len(s.values), 0.5) for s in series]
    perfect = [perfect_scores(lay) for lay in layouts]
    for name, cost in DEFAULT_PROFILES.items():
        null_report = score_corpus(layouts, null, families, {name: cost})[name]
        assert null_report.corpus.score == pytest.approx(0.0)
        assert null_report.corpus.raw == -39 * cost.fn  # every window missed
        best = score_corpus(layouts, perfect, families, {name: cost})[name]
        assert best.corpus.score == pytest.approx(100.0)
        assert best.corpus.fp == 0 and best.corpus.tp == 39
        for family, outcome in best.families.items():
            # the family without windows has no scale: nothing to normalise
            if family == "artificialNoAnomaly":
                assert outcome.score is None and outcome.windows == 0
            else:
                assert outcome.score == pytest.approx(100.0)


def test_a_late_detector_scores_between(corpus: tuple[list, list, list]) -> None:
    _, layouts, families = corpus
    # a detection at the middle of each window: sigmoid of -0.5 over that of -1 per window
    late = []
    for lay in layouts:
        scores = np.zeros(len(lay.window))
        for k in range(lay.labelled_windows):
            rows = np.flatnonzero(lay.window == k)
            scores[rows[len(rows) // 2]] = 1.0
        late.append(scores)
    report = score_corpus(layouts, late, families, {"standard": DEFAULT_PROFILES["standard"]})
    raw = report["standard"].corpus.raw
    assert 0.80 * 39 < raw < 0.88 * 39  # 0.84828 / 0.98661 = 0.8598 at exactly half way
    assert report["standard"].corpus.score == pytest.approx(100 * (raw + 39) / 78)


def test_window_timestamp_not_in_file_is_refused(
    corpus: tuple[list, list, list], tmp_path: Path
) -> None:
    series = corpus[0]
    labels = tmp_path / "windows.json"
    name = series[0].name
    labels.write_text(json.dumps({name: [["1999-01-01 00:00:00", "1999-01-02 00:00:00"]]}))
    with pytest.raises(ValueError, match="is not a row of the file"):
        layout_series(series[0], read_windows(labels))
