"""The serving fast paths' parts against plain computations (properties, hypothesis):
``MemoEncoder`` gives the vectors its encoder gives, whatever it remembers or forgets, and
encodes each new text once; the knowledge base's BM25 read in place from the CSC matrix equals
the scores summed from its dense columns."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ssmas.assistant.kb import KnowledgeIndex, shipped_passages
from ssmas.assistant.kb.index import K1, words
from ssmas.assistant.nlu.minilm import DIM, MemoEncoder


class HashEncoder:
    """A deterministic stand-in for MiniLM that counts what it is asked to encode."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.encoded.extend(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
            vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows) if rows else np.zeros((0, DIM), np.float32)


TEXTS = st.lists(st.sampled_from(["hola", "thanks", "marzo", "ads.txt?", "", "pago", "x y"]))


@settings(max_examples=60, deadline=None)
@given(calls=st.lists(TEXTS, max_size=6), size=st.integers(min_value=1, max_value=4))
def test_memo_encoder_gives_its_encoders_vectors(calls: list[list[str]], size: int) -> None:
    inner, plain = HashEncoder(), HashEncoder()
    memo = MemoEncoder(inner, size=size)  # type: ignore[arg-type]
    for texts in calls:
        got = memo.encode(texts)
        assert got.shape == (len(texts), DIM)
        assert np.array_equal(got, plain.encode(texts))
        assert len(memo._memo) <= size
    # a call encodes each text it does not remember once, however often the call repeats it
    assert len(inner.encoded) <= sum(len(set(texts)) for texts in calls)


def test_memo_encoder_serves_a_repeated_text_from_memory() -> None:
    inner = HashEncoder()
    memo = MemoEncoder(inner, size=8)  # type: ignore[arg-type]
    first = memo.encode(["What is the minimum payout?", "hola"])
    again = memo.encode(["hola", "What is the minimum payout?"])
    assert inner.encoded == ["What is the minimum payout?", "hola"]
    assert np.array_equal(again, first[::-1])


def _bm25_dense(index: KnowledgeIndex, text: str) -> NDArray[np.float64]:
    """BM25 as the module doc defines it, from the dense term-frequency matrix."""
    dense = index.tf.toarray()
    out = np.zeros(len(index.passages))
    ceiling = 0.0
    top = float(index.idf.max())
    for term in words(text):
        j = index.vocab.get(term)
        weight = float(index.idf[j]) if j is not None else top
        ceiling += weight * (K1 + 1)
        if j is not None:
            out += weight * dense[:, j]
    return np.minimum(out / ceiling, 1.0) if ceiling else out


INDEX = KnowledgeIndex.build(shipped_passages())
VOCAB = sorted(INDEX.vocab)


@settings(max_examples=80, deadline=None)
@given(
    picked=st.lists(st.sampled_from(VOCAB), max_size=8),
    unknown=st.lists(st.sampled_from(["zzyzx", "qwop", "lisboa"]), max_size=2),
    language=st.sampled_from(["es", "en", None]),
)
def test_bm25_in_place_equals_the_dense_sum(
    picked: list[str], unknown: list[str], language: str | None
) -> None:
    text = " ".join([*picked, *unknown])
    assert np.allclose(INDEX._bm25(text), _bm25_dense(INDEX, text), rtol=1e-12, atol=0)
    hits = INDEX.search(text, language, k=len(INDEX.passages))
    assert all(h.passage.language in (None, language) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
