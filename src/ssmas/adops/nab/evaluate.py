"""Score a detector's anomaly scores over a NAB corpus: per profile, per family, normalised.

The threshold of each profile is NAB's: the one that maximises the raw score of the whole corpus
(:func:`choose_thresholds`), or one chosen on other data. Normalisation puts the null detector
(a constant score, at its own best threshold) at 0 and the perfect one (a detection at the left
edge of every window, nothing else) at 100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ssmas.adops.nab.scoring import (
    CostMatrix,
    FileLayout,
    FileScore,
    FloatArray,
    everything_score,
    normalised,
    score_file,
    sweep_corpus,
)

__all__ = [
    "Outcome",
    "ProfileReport",
    "choose_thresholds",
    "null_score",
    "perfect_scores",
    "score_corpus",
]


@dataclass(frozen=True)
class Outcome:
    """Raw score, its bounds and the normalised score of a set of files at one threshold."""

    raw: float
    null: float
    perfect: float
    score: float | None
    tp: int
    fp: int
    fn: int
    tn: int
    files: int
    windows: int


@dataclass(frozen=True)
class ProfileReport:
    """One profile over the corpus, and over each family at the corpus threshold."""

    profile: str
    threshold: float
    swept: bool
    corpus: Outcome
    families: dict[str, Outcome] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def null_score(layouts: Sequence[FileLayout], cost: CostMatrix) -> float:
    """NAB's null detector (a constant score) at its best threshold: nothing or everything."""
    nothing = -cost.fn * sum(lay.windows for lay in layouts)
    return max(nothing, everything_score(layouts, cost))


def choose_thresholds(
    layouts: Sequence[FileLayout],
    scores: Sequence[FloatArray],
    profiles: Mapping[str, CostMatrix],
) -> dict[str, float]:
    """Per profile, the threshold with the best raw score over the whole corpus (NAB's sweep)."""
    return {name: sweep_corpus(layouts, scores, cost).best()[0] for name, cost in profiles.items()}


def _outcome(
    layouts: Sequence[FileLayout], results: Sequence[FileScore], cost: CostMatrix
) -> Outcome:
    raw = float(sum(r.score for r in results))
    null = null_score(layouts, cost)
    perfect = cost.tp * sum(lay.labelled_windows for lay in layouts)
    return Outcome(
        raw=raw,
        null=null,
        perfect=perfect,
        score=normalised(raw, null, perfect),
        tp=sum(r.tp for r in results),
        fp=sum(r.fp for r in results),
        fn=sum(r.fn for r in results),
        tn=sum(r.tn for r in results),
        files=len(layouts),
        windows=sum(lay.labelled_windows for lay in layouts),
    )


def score_corpus(
    layouts: Sequence[FileLayout],
    scores: Sequence[FloatArray],
    families: Sequence[str],
    profiles: Mapping[str, CostMatrix],
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, ProfileReport]:
    """Every profile's report; thresholds are swept here unless given (then every profile
    being scored needs one)."""
    if thresholds is not None:
        missing = sorted(set(profiles) - set(thresholds))
        if missing:
            raise ValueError(f"no threshold for the profile(s) {', '.join(missing)}")
        chosen = {name: float(thresholds[name]) for name in profiles}
    else:
        chosen = choose_thresholds(layouts, scores, profiles)
    reports = {}
    for name, cost in profiles.items():
        results = [
            score_file(lay, s, chosen[name], cost) for lay, s in zip(layouts, scores, strict=True)
        ]
        per_family = {}
        for family in sorted(set(families)):
            picked = [i for i, f in enumerate(families) if f == family]
            per_family[family] = _outcome(
                [layouts[i] for i in picked], [results[i] for i in picked], cost
            )
        reports[name] = ProfileReport(
            profile=name,
            threshold=chosen[name],
            swept=thresholds is None,
            corpus=_outcome(layouts, results, cost),
            families=per_family,
        )
    return reports


def perfect_scores(layout: FileLayout) -> FloatArray:
    """The perfect detector's scores: 1 at the left edge of every window, 0 elsewhere."""
    scores = np.zeros(len(layout.window))
    inside = np.flatnonzero(layout.window >= 0)
    if len(inside):
        firsts = inside[np.r_[True, layout.window[inside][1:] != layout.window[inside][:-1]]]
        scores[firsts] = 1.0
    return scores
