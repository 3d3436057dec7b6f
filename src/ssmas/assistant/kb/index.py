"""Hybrid retrieval over the knowledge base: BM25 on words plus MiniLM cosine, one score.

Every passage is searchable by its title, its text and (FAQ rows) its question variants. BM25
(k1 1.5, b 0.75, accents and case folded, stop words dropped) is divided by the score a passage
matching every word of the query would get, so it reads as "share of the query's weight
matched" (words the corpus never saw count at the highest IDF: an off-topic query scores low
however rare its words). The dense part is the best cosine between the query and a passage's
keys (MiniLM, when installed). ``score = DENSE_WEIGHT * cosine + (1 - DENSE_WEIGHT) * bm25``
for the languages of ``DENSE_LANGUAGES``; otherwise, or without embeddings, BM25 alone. (The
MiniLM weights are English: on the shipped FAQ, Spanish off-domain questions got a median
cosine of 0.63 against 0.70 for Spanish support questions, too close to tell them apart, while
English ones got 0.21 against 0.59.)

The cascade: with ``bm25_gate`` set, a query whose best BM25 score among the passages it may
return reaches the gate is ranked on BM25 alone (its dense part 0, not encoded: ~4 ms of MiniLM
saved on a new English text); ``None`` (the default) always embeds.

``KnowledgeIndex.build(passages, encoder)`` indexes; ``search(text, language)`` ranks the
passages of that language (or of no known language). The index is saved with joblib under
``<data_dir>/assistant/kb/`` by ``kb load`` and read by the live brain.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ssmas.assistant.kb.parse import Passage
from ssmas.assistant.knowledge import STOPWORDS
from ssmas.assistant.nlu.entities import fold

K1 = 1.5
B = 0.75
DENSE_WEIGHT = 0.5
DENSE_LANGUAGES = ("en",)
FORMAT_VERSION = 1
_STOP = frozenset(fold(w) for words in STOPWORDS.values() for w in words) | frozenset(
    {
        "como",
        "que",
        "cual",
        "donde",
        "cuando",
        "cuanto",
        "mis",
        "my",
        "i",
        "me",
        "do",
        "does",
        "is",
        "are",
        "a",
        "el",
        "la",
        "de",
        "hay",
        "tengo",
        "puedo",
        "i'm",
    }
)


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"\w+(?:\.\w+)?", fold(text)) if w not in _STOP]


@dataclass(frozen=True)
class KbHit:
    passage: Passage
    score: float
    bm25: float
    dense: float


@dataclass
class KnowledgeIndex:
    passages: list[Passage]
    vocab: dict[str, int] = field(default_factory=dict)
    idf: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    tf: Any = None  # csc matrix passages x vocab (BM25-weighted term frequencies)
    keys: NDArray[np.float32] | None = None  # unit vectors, one row per key
    key_owner: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    format_version: int = FORMAT_VERSION

    @classmethod
    def build(cls, passages: Sequence[Passage], encoder: Any = None) -> KnowledgeIndex:
        index = cls(list(passages))
        docs = [words(" ".join([p.title, *p.questions, p.text])) for p in index.passages]
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, doc in enumerate(docs):
            counts: dict[int, int] = {}
            for w in doc:
                j = vocab.setdefault(w, len(vocab))
                counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                rows.append(i)
                cols.append(j)
                vals.append(c)
        n = max(len(docs), 1)
        lengths = np.array([max(len(d), 1) for d in docs] or [1], dtype=np.float64)
        tf = sp.csr_matrix((vals, (rows, cols)), shape=(len(docs), len(vocab)), dtype=np.float64)
        df = np.bincount(np.array(cols, dtype=np.int64), minlength=len(vocab)).astype(np.float64)
        index.idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        norm = K1 * (1 - B + B * lengths / lengths.mean())
        weighted = tf.tocoo()
        weighted.data = weighted.data * (K1 + 1) / (weighted.data + norm[weighted.row])
        index.tf = weighted.tocsc()
        index.vocab = vocab
        if encoder is not None and index.passages:
            texts: list[str] = []
            owners: list[int] = []
            for i, p in enumerate(index.passages):
                for key in (f"{p.title}. {p.text}" if p.title else p.text, *p.questions):
                    texts.append(key)
                    owners.append(i)
            index.keys = np.asarray(encoder.encode(texts), dtype=np.float32)
            index.key_owner = np.array(owners, dtype=np.int64)
        return index

    def _allowed(self, language: str | None) -> NDArray[np.bool_]:
        """Which passages a search in ``language`` may return (computed once per language)."""
        masks: dict[str | None, NDArray[np.bool_]] = self.__dict__.setdefault("_masks", {})
        mask = masks.get(language)
        if mask is None:
            mask = np.array([p.language in (None, language) for p in self.passages], dtype=bool)
            masks[language] = mask
        return mask

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_masks", None)  # a cache, not part of the index
        return state

    @property
    def dense(self) -> bool:
        return self.keys is not None

    def _bm25(self, text: str) -> NDArray[np.float64]:
        out = np.zeros(len(self.passages))
        terms = words(text)
        if not terms or not self.passages:
            return out
        top_idf = float(self.idf.max()) if len(self.idf) else 1.0
        ceiling = 0.0
        for term in terms:
            j = self.vocab.get(term)
            weight = float(self.idf[j]) if j is not None else top_idf
            ceiling += weight * (K1 + 1)
            if j is not None:  # column j of the CSC matrix, read in place
                start, end = self.tf.indptr[j], self.tf.indptr[j + 1]
                out[self.tf.indices[start:end]] += weight * self.tf.data[start:end]
        return np.minimum(out / ceiling, 1.0) if ceiling else out

    def _dense(self, text: str, encoder: Any) -> NDArray[np.float64]:
        out = np.zeros(len(self.passages))
        if self.keys is None or encoder is None or not len(self.keys):
            return out
        query = np.asarray(encoder.encode([text]), dtype=np.float32)[0]
        sims = self.keys @ query
        np.maximum.at(out, self.key_owner, np.clip(sims, 0.0, 1.0).astype(np.float64))
        return out

    def _use_dense(
        self,
        bm25: NDArray[np.float64],
        allowed: NDArray[np.bool_],
        language: str | None,
        encoder: Any,
        bm25_gate: float | None,
    ) -> bool:
        if self.keys is None or encoder is None or language not in DENSE_LANGUAGES:
            return False
        return bm25_gate is None or not allowed.any() or float(bm25[allowed].max()) < bm25_gate

    def wants_encoding(
        self, text: str, language: str | None, encoder: Any, bm25_gate: float | None = None
    ) -> bool:
        """Whether ``search`` with these arguments would encode ``text`` (a round encodes
        those texts in one batch beforehand; see ``Dialogue.prefetch``)."""
        if not self.passages:
            return False
        bm25 = self._bm25(text)
        return self._use_dense(bm25, self._allowed(language), language, encoder, bm25_gate)

    def search(
        self,
        text: str,
        language: str | None,
        encoder: Any = None,
        k: int = 3,
        bm25_gate: float | None = None,
    ) -> list[KbHit]:
        """The ``k`` best passages for ``text`` in ``language`` (passages of unknown language
        too), best first; ``bm25_gate`` as in the module doc."""
        if not self.passages:
            return []
        bm25 = self._bm25(text)
        allowed = self._allowed(language)
        use_dense = self._use_dense(bm25, allowed, language, encoder, bm25_gate)
        dense = self._dense(text, encoder) if use_dense else np.zeros(len(self.passages))
        score = DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * bm25 if use_dense else bm25
        score = np.where(allowed, score, -1.0)
        order = np.argsort(-score)[:k]
        return [
            KbHit(self.passages[i], float(score[i]), float(bm25[i]), float(dense[i]))
            for i in order
            if score[i] > 0
        ]


_lock = threading.Lock()


def kb_dir(data_dir: Path) -> Path:
    return data_dir / "assistant" / "kb"


def save_index(index: KnowledgeIndex, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(index, tmp, compress=3)
    tmp.replace(path)
    return path


def read_index(path: Path) -> KnowledgeIndex | None:
    if not path.is_file():
        return None
    try:
        index = joblib.load(path)
    except Exception:
        return None
    if not isinstance(index, KnowledgeIndex) or index.format_version != FORMAT_VERSION:
        return None
    return index
