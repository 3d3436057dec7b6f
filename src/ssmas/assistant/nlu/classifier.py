"""A calibrated linear text classifier: TF-IDF (+ embeddings) features, LinearSVC, temperature.

Used for intents and for sentiment. ``fit`` holds out a seeded slice of the training data to fit
a softmax temperature on the SVM margins, then refits on everything, so ``predict_proba`` gives
confidences that mean something (the escalation score compares them with 0.6 and 0.8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.svm import LinearSVC

from ssmas.assistant.nlu.corpora import OUT_OF_SCOPE, SEED, Corpus, split
from ssmas.assistant.nlu.features import Encoder, TextFeatures, fit_temperature, softmax


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    out_of_scope: bool = False


class TextClassifier:
    """``fit(texts, labels)`` then ``predict`` / ``predict_proba``; sklearn conventions (state_)."""

    def __init__(
        self,
        C: float = 0.5,
        embed_weight: float = 3.0,
        oos_threshold: float = 0.0,
        calibration_fraction: float = 0.15,
        class_weight: str | None = None,
        seed: int = SEED,
        tfidf: dict[str, Any] | None = None,
    ) -> None:
        self.C = C
        self.embed_weight = embed_weight
        self.oos_threshold = oos_threshold
        self.calibration_fraction = calibration_fraction
        self.class_weight = class_weight
        self.seed = seed
        self.tfidf = tfidf or {}

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.seed)

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], encoder: Encoder | None = None
    ) -> TextClassifier:
        corpus = Corpus(list(texts), list(labels))
        self.features_ = TextFeatures(encoder, self.embed_weight, **self.tfidf)
        x_all = self.features_.fit_transform(corpus.texts)
        self.temperature_ = 1.0
        if self.calibration_fraction > 0:
            fit_part, held = split(corpus, self.calibration_fraction, self.seed + 1)
            if len(held) and len(set(fit_part.labels)) > 1:
                svm = self._svm().fit(self.features_.transform(fit_part.texts), fit_part.labels)
                margins = svm.decision_function(self.features_.transform(held.texts))
                classes = list(svm.classes_)
                known = [i for i, y in enumerate(held.labels) if y in classes]
                truth = np.array([classes.index(held.labels[i]) for i in known], dtype=np.int64)
                self.temperature_ = fit_temperature(_as_2d(margins)[known], truth)
        self.svm_ = self._svm().fit(x_all, corpus.labels)
        self.classes_: list[str] = [str(c) for c in self.svm_.classes_]
        return self

    def attach_encoder(self, encoder: Encoder | None) -> None:
        self.features_.encoder = encoder

    @property
    def uses_embeddings(self) -> bool:
        return self.features_.uses_embeddings

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        margins = _as_2d(self.svm_.decision_function(self.features_.transform(texts)))
        if len(self.classes_) == 2:
            return softmax(np.hstack([-margins, margins]), self.temperature_)
        return softmax(margins, self.temperature_)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        proba = self.predict_proba(texts)
        best = proba.argmax(axis=1)
        out = []
        for row, index in enumerate(best):
            label = self.classes_[index]
            confidence = float(proba[row, index])
            oos = label == OUT_OF_SCOPE or confidence < self.oos_threshold
            out.append(Prediction(label, confidence, oos))
        return out

    def labels(self, texts: Sequence[str]) -> list[str]:
        """Plain argmax labels (for accuracy), without the out-of-scope threshold."""
        if not texts:
            return []
        margins = _as_2d(self.svm_.decision_function(self.features_.transform(texts)))
        if len(self.classes_) == 2:
            return [self.classes_[int(m > 0)] for m in margins[:, 0]]
        return [self.classes_[i] for i in margins.argmax(axis=1)]


def _as_2d(margins: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = margins.reshape(len(margins), -1)
    return out
