"""The NLU's cascades. Intent (``TextClassifier.cascade_proba``): with the gate at "always
embed" it gives exactly the full model's outputs; with a gate, a text whose sparse-only
confidence reaches it takes the partner's answer without being encoded, and the rest take the
full model's answer, encoded alone. Knowledge base (``KnowledgeIndex.search(bm25_gate=)``):
``None`` is the hybrid search; a query whose best BM25 reaches the gate is ranked on BM25
alone and not encoded, the others exactly as before."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ssmas.assistant.kb import KnowledgeIndex, shipped_passages
from ssmas.assistant.nlu.classifier import TextClassifier
from tests.unit.test_assistant_fast_path_parts import HashEncoder

TRAIN = [
    ("my card is lost", "lost_card"),
    ("I lost my card yesterday", "lost_card"),
    ("card stolen please block it", "lost_card"),
    ("what is the euro rate", "exchange_rate"),
    ("exchange rate for dollars", "exchange_rate"),
    ("how many euros for a pound", "exchange_rate"),
    ("sing me a song", "out_of_scope"),
    ("what is the weather", "out_of_scope"),
    ("tell me a joke", "out_of_scope"),
]
QUERIES = [
    "my card is lost",
    "card lost",
    "euro rate please",
    "weather joke",
    "rate of my card",
    "zzz",
    "",
]


def fitted(encoder: HashEncoder) -> TextClassifier:
    texts, labels = zip(*(TRAIN * 3), strict=True)
    return TextClassifier(C=1.0, oos_threshold=0.4).fit(texts, labels, encoder=encoder)


def full_proba(model: TextClassifier, texts: Sequence[str]) -> NDArray[np.float64]:
    return model.predict_proba(texts)


def test_always_embed_gives_exactly_the_full_models_outputs() -> None:
    encoder = HashEncoder()
    model = fitted(encoder)
    assert model.has_cascade
    before = model.predict(QUERIES)
    assert np.array_equal(model.cascade_proba(QUERIES, None), full_proba(model, QUERIES))
    model.cascade_gate = None
    assert model.predict(QUERIES) == before
    # a gate no confidence reaches sends every text through the full model, as one batch
    assert np.array_equal(model.cascade_proba(QUERIES, 1.01), full_proba(model, QUERIES))


def test_gate_answers_confident_texts_without_encoding_them() -> None:
    encoder = HashEncoder()
    model = fitted(encoder)
    sparse = model.sparse_proba(QUERIES)
    full = full_proba(model, QUERIES)
    gate = float(np.median(sparse.max(axis=1)))
    sure = sparse.max(axis=1) >= gate
    assert sure.any() and (~sure).any()
    encoder.encoded.clear()
    got = model.cascade_proba(QUERIES, gate)
    assert encoder.encoded == [t for t, s in zip(QUERIES, sure, strict=True) if not s]
    assert np.array_equal(got[sure], sparse[sure])
    assert np.allclose(got[~sure], full[~sure])
    model.cascade_gate = gate
    labels = [p.label for p in model.predict(QUERIES)]
    assert labels == [model.classes_[i] for i in got.argmax(axis=1)]


def test_a_model_without_embeddings_has_no_cascade() -> None:
    texts, labels = zip(*(TRAIN * 3), strict=True)
    model = TextClassifier(C=1.0).fit(texts, labels)
    assert not model.has_cascade
    assert np.array_equal(model.cascade_proba(QUERIES, 0.1), model.predict_proba(QUERIES))


KB_QUERIES = [
    "What is the minimum payout?",
    "how do I set up ads.txt",
    "payment threshold minimum",
    "tell me about the weather in Lisbon",
    "",
]


def test_kb_gate_none_is_the_hybrid_search_and_a_gate_skips_only_decisive_queries() -> None:
    build = HashEncoder()
    index = KnowledgeIndex.build(shipped_passages(), build)
    encoder = HashEncoder()
    plain = [index.search(q, "en", encoder, k=5) for q in KB_QUERIES]
    assert [index.search(q, "en", encoder, k=5, bm25_gate=None) for q in KB_QUERIES] == plain
    assert [index.search(q, "en", encoder, k=5, bm25_gate=1.01) for q in KB_QUERIES] == plain
    best = [
        max((h.bm25 for h in index.search(q, "en", None, k=1)), default=0.0) for q in KB_QUERIES
    ]
    gate = sorted(b for b in best if b > 0)[-1]  # only the most decisive query skips MiniLM
    encoder.encoded.clear()
    gated = [index.search(q, "en", encoder, k=5, bm25_gate=gate) for q in KB_QUERIES]
    decisive = [b >= gate for b in best]
    assert sum(decisive) >= 1
    for query, hits, before, skip in zip(KB_QUERIES, gated, plain, decisive, strict=True):
        if skip:
            assert query not in encoder.encoded
            assert hits == index.search(query, "en", None, k=5)
            assert all(h.dense == 0.0 and h.score == h.bm25 for h in hits)
        else:
            assert hits == before


def test_a_model_saved_before_the_cascade_always_embeds() -> None:
    encoder = HashEncoder()
    model = fitted(encoder)
    full = model.predict(QUERIES, gate=1.01)
    for name in ("sparse_svm_", "sparse_temperature_", "cascade_gate"):
        delattr(model, name)  # what a bundle pickled before this change lacks
    assert not model.has_cascade
    assert model.predict(QUERIES) == full
    assert model.predict(QUERIES, gate=0.1) == full
