"""The lean serving transforms (``ssmas.assistant.nlu.lean``) against scikit-learn's own: same
matrices, same margins, same probabilities, on the shipped domain's texts and on arbitrary ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from ssmas.assistant.nlu import lean
from ssmas.assistant.nlu.domain import parse_example, shipped_domain_dir
from ssmas.assistant.nlu.features import tfidf_union


def _examples() -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for language in ("en", "es"):
        body = yaml.safe_load((shipped_domain_dir() / "nlu" / f"{language}.yml").read_text())
        for intent, examples in body["intents"].items():
            for raw in examples:
                texts.append(parse_example(str(raw))[0])
                labels.append(intent)
    return texts, labels


TEXTS, LABELS = _examples()
TRAIN, HELD = TEXTS[::2], TEXTS[1::2]
ODD = ["", "   ", "¿¡ñ!!", "ads.txt 😀 12345", "Ünïcödé àccents", "x" * 300, "a b c d e f"]


def _same(ours: sp.csr_matrix, theirs: Any) -> None:
    theirs = sp.csr_matrix(theirs)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    assert (ours != theirs).nnz == 0 or np.allclose(ours.toarray(), theirs.toarray(), atol=1e-12)
    assert np.array_equal(np.diff(ours.indptr), np.diff(theirs.indptr))


VECTORIZERS = {
    "tfidf_union": lambda: tfidf_union(),
    "tfidf_union_folded": lambda: tfidf_union(strip_accents="unicode"),
    "char_nb_style": lambda: TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2),
    "counts": lambda: CountVectorizer(ngram_range=(1, 2)),
    "binary_counts": lambda: CountVectorizer(binary=True),
    "l1_raw_tf": lambda: TfidfVectorizer(norm="l1", use_idf=False),
    "weighted_union": lambda: FeatureUnion(
        [("w", TfidfVectorizer()), ("c", CountVectorizer(analyzer="char"))],
        transformer_weights={"w": 2.5},
    ),
}


@pytest.mark.parametrize("name", sorted(VECTORIZERS))
def test_transform_equals_sklearn(name: str) -> None:
    model = VECTORIZERS[name]().fit(TRAIN)
    for batch in (HELD, HELD[:1], ODD):
        _same(lean.transform(model, batch), model.transform(batch))
    width = model.transform(HELD[:1]).shape[1]
    assert lean.transform(model, []).shape == (0, width)  # where sklearn raises


_FITTED = tfidf_union(strip_accents="unicode").fit(TRAIN)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=6))
def test_transform_equals_sklearn_on_any_text(texts: list[str]) -> None:
    _same(lean.transform(_FITTED, texts), _FITTED.transform(texts))


def test_unknown_estimators_go_through_sklearn() -> None:
    class Doubler:
        def transform(self, texts: list[str]) -> Any:
            return sp.csr_matrix(np.array([[2.0 * len(t)] for t in texts]))

    assert lean.transform(Doubler(), ["ab", "c"]).toarray().ravel().tolist() == [4.0, 2.0]


def test_linear_margins_and_naive_bayes_equal_sklearn() -> None:
    union = tfidf_union().fit(TRAIN)
    x, held = union.transform(TRAIN), union.transform(HELD)
    multi = LinearSVC().fit(x, LABELS[::2])
    assert np.allclose(lean.decision(multi, held), multi.decision_function(held), atol=1e-12)
    binary_labels = [label == "greet" for label in LABELS[::2]]
    binary = LinearSVC().fit(x, binary_labels)
    ours = lean.decision(binary, held)
    assert ours.shape == (held.shape[0],)
    assert np.allclose(ours, binary.decision_function(held), atol=1e-12)
    counts = CountVectorizer().fit(TRAIN)
    nb = MultinomialNB(alpha=0.1).fit(counts.transform(TRAIN), LABELS[::2])
    c = counts.transform(HELD)
    assert np.allclose(lean.nb_proba(nb, c), nb.predict_proba(c), atol=1e-12)
