"""Serving-time transforms of fitted scikit-learn text models without scikit-learn's per-call
checks.

A fitted ``TfidfVectorizer.transform`` on one message spends most of its time validating
inputs, routing metadata and looking for data frames (about 1 ms a call, several calls a
message), not counting n-grams. The assistant's workers call these models once per round, often
on one or two messages, so that overhead was most of the NLU's cost at low traffic. The
functions here compute the same matrices from the fitted attributes alone (vocabulary, idf,
coefficients); ``tests/unit/test_nlu_lean.py`` holds them equal to scikit-learn's own results.
An estimator these functions do not know goes through scikit-learn as before.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.special import logsumexp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion

Analyzer = Callable[[str], list[str]]

# The analyzer of each fitted vectorizer, built once (``build_analyzer`` compiles regexes and
# binds preprocessing each call); weak keys, so a reloaded model's entry goes with it.
_analyzers: weakref.WeakKeyDictionary[Any, Analyzer] = weakref.WeakKeyDictionary()


def _analyzer(vectorizer: CountVectorizer) -> Analyzer:
    found = _analyzers.get(vectorizer)
    if found is None:
        found = _analyzers[vectorizer] = vectorizer.build_analyzer()
    return found


def _counts(vectorizer: CountVectorizer, texts: Sequence[str]) -> sp.csr_matrix:
    """``CountVectorizer.transform``: term counts over the fitted vocabulary (binary when the
    vectorizer is), indices sorted within each row."""
    analyze = _analyzer(vectorizer)
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    indices: list[int] = []
    values: list[int] = []
    indptr = [0]
    for text in texts:
        counter: dict[int, int] = {}
        for term in analyze(text):
            j = vocabulary.get(term)
            if j is not None:
                counter[j] = counter.get(j, 0) + 1
        for j in sorted(counter):
            indices.append(j)
            values.append(counter[j])
        indptr.append(len(indices))
    data = np.asarray(values, dtype=vectorizer.dtype)
    if vectorizer.binary:
        data.fill(1)
    return sp.csr_matrix(
        (data, np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
        shape=(len(texts), len(vocabulary)),
    )


def _tfidf(vectorizer: TfidfVectorizer, texts: Sequence[str]) -> sp.csr_matrix:
    """``TfidfVectorizer.transform``: counts, then sublinear tf, idf and the row norm."""
    x = _counts(vectorizer, texts)
    x.data = x.data.astype(np.float64, copy=False)
    if vectorizer.sublinear_tf:
        np.log(x.data, out=x.data)
        x.data += 1.0
    if vectorizer.use_idf:
        x.data *= vectorizer.idf_[x.indices]
    if vectorizer.norm == "l2":
        _normalise_rows(x, np.sqrt(_row_sums(x, x.data * x.data)))
    elif vectorizer.norm == "l1":
        _normalise_rows(x, _row_sums(x, np.abs(x.data)))
    elif vectorizer.norm is not None:  # pragma: no cover - sklearn accepts only l1 / l2 / None
        raise ValueError(f"unknown norm {vectorizer.norm!r}")
    return x


def _row_sums(x: sp.csr_matrix, values: NDArray[np.float64]) -> NDArray[np.float64]:
    sums = np.zeros(x.shape[0])
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    np.add.at(sums, rows, values)
    return sums


def _normalise_rows(x: sp.csr_matrix, norms: NDArray[np.float64]) -> None:
    norms[norms == 0.0] = 1.0  # an empty row stays empty, as in sklearn's normalize
    x.data /= np.repeat(norms, np.diff(x.indptr))


def transform(model: Any, texts: Sequence[str]) -> sp.csr_matrix:
    """``model.transform(texts)`` as a CSR matrix, for a fitted ``CountVectorizer``,
    ``TfidfVectorizer`` or ``FeatureUnion`` of them; anything else through scikit-learn."""
    texts = list(texts)
    kind = type(model)
    if kind is TfidfVectorizer:
        return _tfidf(model, texts)
    if kind is CountVectorizer:
        return _counts(model, texts)
    if kind is FeatureUnion and _plain_union(model):
        weights = model.transformer_weights or {}
        parts = []
        for name, part in model.transformer_list:
            x = transform(part, texts)
            if name in weights:
                x = x * weights[name]
            parts.append(x)
        return hstack(parts)
    return sp.csr_matrix(model.transform(texts))


def _plain_union(union: FeatureUnion) -> bool:
    """A union of vectorizers this module knows, none dropped or passed through."""
    return all(
        type(part) in (TfidfVectorizer, CountVectorizer) for _, part in union.transformer_list
    )


def hstack(parts: list[sp.csr_matrix]) -> sp.csr_matrix:
    """CSR matrices side by side (each row's indices stay sorted: the blocks are in order)."""
    if len(parts) == 1:
        return parts[0]
    rows = parts[0].shape[0]
    offsets = np.cumsum([0] + [p.shape[1] for p in parts])
    counts = sum(np.diff(p.indptr) for p in parts)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    data = np.empty(indptr[-1], dtype=np.result_type(*[p.dtype for p in parts]))
    indices = np.empty(indptr[-1], dtype=np.int32)
    starts = indptr[:-1].astype(np.int64)  # where each row's next block goes
    for part, offset in zip(parts, offsets[:-1], strict=True):
        sizes = np.diff(part.indptr)
        within = np.arange(part.nnz) - np.repeat(part.indptr[:-1], sizes)
        at = np.repeat(starts, sizes) + within
        data[at] = part.data
        indices[at] = part.indices + offset
        starts += sizes
    return sp.csr_matrix((data, indices, indptr), shape=(rows, int(offsets[-1])))


def decision(model: Any, x: Any) -> NDArray[np.float64]:
    """``model.decision_function(x)`` of a fitted linear model (``coef_``, ``intercept_``)."""
    coef = getattr(model, "coef_", None)
    intercept = getattr(model, "intercept_", None)
    if coef is None or intercept is None or getattr(model, "n_features_in_", -1) != x.shape[1]:
        return np.asarray(model.decision_function(x), dtype=np.float64)
    scores = np.asarray(x @ coef.T, dtype=np.float64) + intercept
    out: NDArray[np.float64] = scores.ravel() if scores.shape[1] == 1 else scores
    return out


def nb_proba(model: Any, x: Any) -> NDArray[np.float64]:
    """``predict_proba`` of a fitted ``MultinomialNB``."""
    joint = np.asarray(x @ model.feature_log_prob_.T) + model.class_log_prior_
    out: NDArray[np.float64] = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    return out
