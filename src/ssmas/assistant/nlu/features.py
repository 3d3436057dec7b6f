"""Text features shared by the NLU models: a word + character TF-IDF union, optional embeddings.

The sparse part is word 1-2-grams plus ``char_wb`` 2-5-grams (robust to typos and inflection);
when an encoder is given, its unit vectors are appended with a weight, so one linear model sees
both the surface form and the meaning of an utterance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from ssmas.assistant.nlu import lean


class Encoder(Protocol):
    """Anything that turns texts into dense unit vectors (``CachedEncoder``, test doubles)."""

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def tfidf_union(
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (2, 5),
    token_pattern: str = r"(?u)\b\w+\b",
    strip_accents: str | None = None,
) -> FeatureUnion:
    """Sublinear word and ``char_wb`` TF-IDF side by side (``strip_accents="unicode"`` folds
    accents, which Spanish chat messages often leave out)."""
    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    ngram_range=word_ngrams,
                    sublinear_tf=True,
                    token_pattern=token_pattern,
                    strip_accents=strip_accents,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=char_ngrams,
                    sublinear_tf=True,
                    min_df=2,
                    strip_accents=strip_accents,
                ),
            ),
        ]
    )


class TextFeatures:
    """Fitted feature maker: ``fit_transform`` on training texts, ``transform`` afterwards.

    The encoder is not pickled (``__getstate__`` drops it); ``uses_embeddings`` tells the loader
    to attach one again before ``transform``.
    """

    def __init__(
        self, encoder: Encoder | None = None, embed_weight: float = 3.0, **tfidf: Any
    ) -> None:
        self.encoder = encoder
        self.embed_weight = embed_weight
        self.uses_embeddings = encoder is not None
        # which MiniLM encoder made the training vectors: serving must use the same one
        self.encoder_name: str | None = getattr(encoder, "name", None) if encoder else None
        self.union = tfidf_union(**tfidf)

    def _dense(self, texts: Sequence[str]) -> sp.csr_matrix | None:
        if not self.uses_embeddings:
            return None
        if self.encoder is None:
            raise RuntimeError("model was trained with embeddings: attach an encoder first")
        return sp.csr_matrix(self.encoder.encode(list(texts)) * self.embed_weight)

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        sparse = self.union.fit_transform(list(texts))
        dense = self._dense(texts)
        return sp.csr_matrix(sparse if dense is None else sp.hstack([sparse, dense]).tocsr())

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.with_dense(self.sparse(texts), texts)

    def sparse(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The TF-IDF part alone (what the cascade's sparse-only partner reads)."""
        return lean.transform(self.union, texts)

    def with_dense(self, sparse: sp.csr_matrix, texts: Sequence[str]) -> sp.csr_matrix:
        """``sparse`` (rows of ``texts``) with the embeddings appended, when used."""
        dense = self._dense(texts)
        return sparse if dense is None else lean.hstack([sparse, dense])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["encoder"] = None
        return state


def softmax(scores: NDArray[np.float64], temperature: float) -> NDArray[np.float64]:
    z = scores * temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def fit_temperature(scores: NDArray[np.float64], truth: NDArray[np.int64]) -> float:
    """The softmax temperature that minimises the log loss of ``scores`` (a grid search)."""
    best, best_loss = 1.0, np.inf
    for t in np.geomspace(0.25, 64.0, 41):
        p = softmax(scores, float(t))[np.arange(len(truth)), truth]
        loss = float(-np.log(np.clip(p, 1e-12, 1.0)).mean())
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best
