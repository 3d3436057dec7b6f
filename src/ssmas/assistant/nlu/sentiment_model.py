"""The Spanish tweet sentiment model: stacked three-class and negative-vs-positive models.

Features: word 1-2-gram and ``char_wb`` 2-5-gram TF-IDF over the normalised tweet followed by
its cue tokens (``tweet_cues.mark_cues``: negation scope, a Spanish polarity lexicon, emoji),
and word 1-2-gram counts of the same text. Each of the two tasks is a small stack:

- a LinearSVC on the TF-IDF features,
- an NB-SVM (LinearSVC on TF-IDF features scaled by naive-Bayes log-count ratios, one per class),
- a multinomial naive Bayes on the counts,

whose out-of-fold outputs (five folds, near-duplicate tweets kept in one fold) train a logistic
regression, so the probabilities come calibrated. The three-class stack decides how much of the
mass is neutral; the binary stack, trained on the negative and positive tweets only (it
separates those two better than the three-class model's pair of scores), splits the rest.

``predict_proba`` returns (negative, neutral, positive) for ``normalise_tweet`` output, as
``NLU.sentiment`` passes it. Cross-validated on the training side (grouped folds), the stack
beats the single LinearSVC by about one point on three classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.special import logsumexp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.naive_bayes import MultinomialNB
from sklearn.svm import LinearSVC

from ssmas.assistant.nlu import lean
from ssmas.assistant.nlu.classifier import TextClassifier
from ssmas.assistant.nlu.corpora import SEED
from ssmas.assistant.nlu.features import Encoder, TextFeatures
from ssmas.assistant.nlu.sentiment import LABELS, TOKEN_PATTERN
from ssmas.assistant.nlu.tweet_cues import mark_cues
from ssmas.assistant.nlu.tweet_groups import near_duplicate_groups

SVC_C = 0.1
NBSVM_C = 0.3
NB_ALPHA = 0.5
META_C = 1.0
STACK_FOLDS = 5
POLAR = ("negative", "positive")

Matrix: TypeAlias = sp.csr_matrix
Array: TypeAlias = NDArray[np.float64]


def _columns(scores: Array) -> Array:
    out: Array = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    return out


def _nb_ratio(x: Matrix, is_class: NDArray[np.bool_], alpha: float = 1.0) -> Array:
    """Naive-Bayes log-count ratio of every feature for ``is_class`` against the rest."""
    present = (x > 0).astype(np.float64)
    p = alpha + np.asarray(present[is_class].sum(axis=0)).ravel()
    q = alpha + np.asarray(present[~is_class].sum(axis=0)).ravel()
    out: Array = np.log((p / p.sum()) / (q / q.sum()))
    return out


class _Bases:
    """The three base learners of one task, fitted together."""

    def __init__(self, classes: Sequence[str], seed: int) -> None:
        self.classes = list(classes)
        self.seed = seed

    def fit(self, x: Matrix, counts: Matrix, labels: NDArray[np.str_]) -> _Bases:
        """Fit the learners, then keep only their folded weights (one matrix product later)."""
        svc = LinearSVC(C=SVC_C, random_state=self.seed).fit(x, labels)
        weights = [svc.coef_.T]
        biases = [svc.intercept_]
        # One-vs-rest NB-SVMs; a binary task needs only the second class's. An SVM fitted on
        # ``x * r`` scores ``x @ (r * w)``, so its weights fold into the same matrix.
        targets = self.classes if len(self.classes) > 2 else self.classes[1:]
        for target in targets:
            ratio = _nb_ratio(x, labels == target)
            svm = LinearSVC(C=NBSVM_C, random_state=self.seed)
            svm.fit(sp.csr_matrix(x.multiply(ratio)), labels == target)
            weights.append((svm.coef_ * ratio).T)
            biases.append(svm.intercept_)
        self.weights_: Array = np.ascontiguousarray(np.hstack(weights), dtype=np.float64)
        self.bias_: Array = np.concatenate(biases).astype(np.float64)
        self.nb = MultinomialNB(alpha=NB_ALPHA).fit(counts, labels)
        return self

    def outputs(self, x: Matrix, counts: Matrix) -> Array:
        """SVC margins, NB-SVM margins and NB log-probabilities, side by side."""
        linear = np.asarray(x @ self.weights_) + self.bias_
        joint = np.asarray(counts @ self.nb.feature_log_prob_.T) + self.nb.class_log_prior_
        log_proba = joint - logsumexp(joint, axis=1, keepdims=True)
        out: Array = np.hstack([linear, log_proba])
        return out


class _Stack:
    """Base learners plus a logistic regression trained on their out-of-fold outputs."""

    def __init__(self, classes: Sequence[str], seed: int) -> None:
        self.classes = list(classes)
        self.seed = seed

    def fit(
        self, x: Matrix, counts: Matrix, labels: NDArray[np.str_], groups: NDArray[np.int64]
    ) -> _Stack:
        width = len(self.classes) * 3 if len(self.classes) > 2 else 1 + 1 + 2
        out_of_fold = np.zeros((len(labels), width))
        folds = StratifiedGroupKFold(n_splits=STACK_FOLDS, shuffle=True, random_state=self.seed)
        for fit_index, held_index in folds.split(np.zeros(len(labels)), labels, groups):
            bases = _Bases(self.classes, self.seed).fit(
                x[fit_index], counts[fit_index], labels[fit_index]
            )
            out_of_fold[held_index] = bases.outputs(x[held_index], counts[held_index])
        self.meta = LogisticRegression(C=META_C, max_iter=2000).fit(out_of_fold, labels)
        self.bases = _Bases(self.classes, self.seed).fit(x, counts, labels)
        return self

    def predict_proba(self, x: Matrix, counts: Matrix) -> Array:
        z = self.bases.outputs(x, counts) @ self.meta.coef_.T + self.meta.intercept_
        if z.shape[1] == 1:  # binary: the logistic regression's one score is the second class's
            z = np.hstack([np.zeros_like(z), z])
        out: Array = np.exp(z - logsumexp(z, axis=1, keepdims=True))
        return out


class TweetSentimentModel(TextClassifier):
    """``fit(normalised_tweets, labels)``; ``predict_proba`` columns follow ``classes_``.

    A ``TextClassifier`` to the rest of the package (same ``predict`` / ``labels`` contract),
    with its own features and its pair of stacked models.
    """

    def __init__(self, seed: int = SEED) -> None:
        super().__init__(C=SVC_C, calibration_fraction=0.0, seed=seed)

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], encoder: Encoder | None = None
    ) -> TweetSentimentModel:
        found = set(labels)
        if not found <= set(LABELS):
            raise ValueError(f"sentiment labels must be {LABELS}, got {sorted(found)}")
        if len(found) < len(LABELS) or min(list(labels).count(y) for y in LABELS) < STACK_FOLDS:
            raise ValueError(f"sentiment training needs at least {STACK_FOLDS} tweets per label")
        y = np.array(labels)
        groups = near_duplicate_groups(list(texts))
        cued = [mark_cues(t) for t in texts]
        self.features_ = TextFeatures(None, token_pattern=TOKEN_PATTERN)
        self.counts_ = CountVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2))
        x = self.features_.fit_transform(cued)
        counts = sp.csr_matrix(self.counts_.fit_transform(cued))
        self.three_ = _Stack(LABELS, self.seed).fit(x, counts, y, groups)
        polar = y != "neutral"
        self.binary_ = _Stack(POLAR, self.seed).fit(
            x[polar], counts[polar], y[polar], groups[polar]
        )
        self.classes_ = list(LABELS)
        return self

    def attach_encoder(self, encoder: Encoder | None) -> None:
        """No embeddings: TF-IDF, counts and cue tokens only (keeps ``analyse`` fast)."""

    def predict_proba(self, texts: Sequence[str]) -> Array:
        cued = [mark_cues(t) for t in texts]
        x = self.features_.transform(cued)
        counts = lean.transform(self.counts_, cued)
        neutral = self.three_.predict_proba(x, counts)[:, LABELS.index("neutral")]
        split_polar = self.binary_.predict_proba(x, counts)
        polar = 1.0 - neutral
        out: Array = np.column_stack(
            [polar * split_polar[:, 0], neutral, polar * split_polar[:, 1]]
        )
        return out

    def labels(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        return [self.classes_[i] for i in self.predict_proba(texts).argmax(axis=1)]
