"""A calibrated linear text classifier: TF-IDF (+ embeddings) features, LinearSVC, temperature.

Used for intents and for sentiment. ``fit`` holds out a seeded slice of the training data to fit
a softmax temperature on the SVM margins, then refits on everything, so ``predict_proba`` gives
confidences that mean something (the escalation score compares them with 0.6 and 0.8).

A model with embeddings also fits a sparse-only partner (TF-IDF alone, its own temperature): the
cascade. With ``cascade_gate`` set, ``predict`` answers a text from the partner when its
confidence reaches the gate and encodes (MiniLM, ~4 ms a new English text) only the rest; with
the gate ``None`` (always embed) every text goes through the full model, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.svm import LinearSVC

from ssmas.assistant.nlu import lean
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
        cascade_gate: float | None = None,
    ) -> None:
        self.C = C
        self.embed_weight = embed_weight
        self.oos_threshold = oos_threshold
        self.calibration_fraction = calibration_fraction
        self.class_weight = class_weight
        self.seed = seed
        self.tfidf = tfidf or {}
        self.cascade_gate = cascade_gate

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.seed)

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], encoder: Encoder | None = None
    ) -> TextClassifier:
        corpus = Corpus(list(texts), list(labels))
        self.features_ = TextFeatures(encoder, self.embed_weight, **self.tfidf)
        x_all = self.features_.fit_transform(corpus.texts)
        self.temperature_ = self._temperature(corpus, self.features_.transform)
        self.svm_ = self._svm().fit(x_all, corpus.labels)
        self.classes_: list[str] = [str(c) for c in self.svm_.classes_]
        self.sparse_svm_: LinearSVC | None = None
        if self.features_.uses_embeddings:
            sparse = self.features_.sparse
            self.sparse_temperature_ = self._temperature(corpus, sparse)
            self.sparse_svm_ = self._svm().fit(sparse(corpus.texts), corpus.labels)
        return self

    def _temperature(self, corpus: Corpus, transform: Any) -> float:
        """Softmax temperature fitted on a seeded held-out slice (1.0 without one)."""
        if self.calibration_fraction <= 0:
            return 1.0
        fit_part, held = split(corpus, self.calibration_fraction, self.seed + 1)
        if not len(held) or len(set(fit_part.labels)) < 2:
            return 1.0
        svm = self._svm().fit(transform(fit_part.texts), fit_part.labels)
        margins = svm.decision_function(transform(held.texts))
        classes = list(svm.classes_)
        known = [i for i, y in enumerate(held.labels) if y in classes]
        truth = np.array([classes.index(held.labels[i]) for i in known], dtype=np.int64)
        return fit_temperature(_as_2d(margins)[known], truth)

    @property
    def has_cascade(self) -> bool:
        """Whether a sparse-only partner was fitted (models saved before it have none)."""
        return getattr(self, "sparse_svm_", None) is not None

    def sparse_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The sparse-only partner's probabilities (``has_cascade`` models only)."""
        return self._proba(self.sparse_svm_, self.features_.sparse(texts), self.sparse_temperature_)

    def _proba(self, svm: Any, x: Any, temperature: float) -> NDArray[np.float64]:
        margins = _as_2d(lean.decision(svm, x))
        if len(self.classes_) == 2:
            return softmax(np.hstack([-margins, margins]), temperature)
        return softmax(margins, temperature)

    def attach_encoder(self, encoder: Encoder | None) -> None:
        self.features_.encoder = encoder

    @property
    def uses_embeddings(self) -> bool:
        return self.features_.uses_embeddings

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return self._proba(self.svm_, self.features_.transform(texts), self.temperature_)

    def cascade_proba(self, texts: Sequence[str], gate: float | None) -> NDArray[np.float64]:
        """Probabilities through the cascade: rows whose sparse-only confidence reaches
        ``gate`` keep the partner's, the others (all of them when ``gate`` is None or there is
        no partner) the full model's; only those others are encoded."""
        if gate is None or not self.has_cascade or not len(texts):
            return self.predict_proba(texts)
        sparse_x = self.features_.sparse(texts)
        proba = self._proba(self.sparse_svm_, sparse_x, self.sparse_temperature_)
        unsure = np.flatnonzero(proba.max(axis=1) < gate)
        if len(unsure):
            x = self.features_.with_dense(sparse_x[unsure], [texts[int(i)] for i in unsure])
            proba[unsure] = self._proba(self.svm_, x, self.temperature_)
        return proba

    def predict(self, texts: Sequence[str], gate: float | None = None) -> list[Prediction]:
        """Labels, confidences and the out-of-scope flag; ``gate`` (default the model's
        ``cascade_gate``) as in ``cascade_proba``."""
        if not texts:
            return []
        use = getattr(self, "cascade_gate", None) if gate is None else gate
        proba = self.cascade_proba(texts, use)
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
