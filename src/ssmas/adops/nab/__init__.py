"""NAB-compatible scoring (Numenta Anomaly Benchmark): windows, profiles, sweep, normalisation.

``scoring`` is the pure arithmetic of one file and of the corpus sweep; ``corpus`` reads NAB's
files; ``evaluate`` turns a detector's scores into the per-profile, per-family report.
"""

from __future__ import annotations

from ssmas.adops.nab.corpus import (
    DEFAULT_PROFILES,
    Series,
    layout_series,
    load_corpus,
    read_profiles,
    read_series,
    read_windows,
)
from ssmas.adops.nab.evaluate import (
    Outcome,
    ProfileReport,
    choose_thresholds,
    null_score,
    perfect_scores,
    score_corpus,
)
from ssmas.adops.nab.scoring import (
    PROBATION_PERCENT,
    CostMatrix,
    FileLayout,
    FileScore,
    Sweep,
    layout_file,
    probationary_length,
    score_file,
    sweep_corpus,
)

__all__ = [
    "DEFAULT_PROFILES",
    "PROBATION_PERCENT",
    "CostMatrix",
    "FileLayout",
    "FileScore",
    "Outcome",
    "ProfileReport",
    "Series",
    "Sweep",
    "choose_thresholds",
    "layout_file",
    "layout_series",
    "load_corpus",
    "null_score",
    "perfect_scores",
    "probationary_length",
    "read_profiles",
    "read_series",
    "read_windows",
    "score_corpus",
    "score_file",
    "sweep_corpus",
]
