"""A business's FAQ and TF-IDF retrieval over it, per language.

An FAQ file is JSON: ``{"business": ..., "entries": [{"id", "intents", "questions": {lang:
[...]}, "answer": {lang: text}}]}``. The assistant answers from the shipped publisher-network
FAQ (``KnowledgeBase.shipped()``, ``assistant/data/faq.json``); ``from_json`` loads another.
Retrieval compares the message with every question
variant (word and character n-grams, accents folded) and scores an entry by its best variant.

Batched: ``search_many(texts, language)`` scores many messages in one vectorisation and one
sparse product, with the same results as ``search`` one by one; ``prepare(texts, language)``
keeps those scores so that later ``search`` / ``best`` calls on the same texts reuse them (the
text pipeline prepares a whole round, then composes each reply on its own).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from ssmas.core.memo import BoundedMemo

MIN_SCORE = 0.3
PREPARED_MAX = 4096  # prepared (text, language) scores kept; the oldest go first
STOPWORDS = {
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "de",
            "que",
            "y",
            "en",
            "un",
            "una",
            "por",
            "para",
            "con",
            "no",
            "es",
            "se",
            "su",
            "al",
            "lo",
            "como",
            "más",
            "pero",
            "sus",
            "le",
            "ya",
            "o",
            "este",
            "si",
            "porque",
            "esta",
            "entre",
            "cuando",
            "muy",
            "sin",
            "sobre",
            "también",
            "me",
            "hasta",
            "hay",
            "donde",
            "quien",
            "desde",
            "todo",
            "nos",
            "durante",
            "puedes",
            "tu",
            "te",
            "mi",
            "ti",
        ]
    ),
    "en": frozenset(
        [
            "the",
            "of",
            "and",
            "to",
            "in",
            "is",
            "you",
            "that",
            "it",
            "he",
            "was",
            "for",
            "on",
            "are",
            "as",
            "with",
            "his",
            "they",
            "at",
            "be",
            "this",
            "have",
            "from",
            "or",
            "one",
            "had",
            "by",
            "but",
            "not",
            "what",
            "all",
            "were",
            "we",
            "when",
            "your",
            "can",
            "there",
            "an",
            "which",
            "their",
            "if",
            "do",
            "will",
            "each",
            "how",
            "our",
            "please",
        ]
    ),
}


_STOP = sorted(STOPWORDS["es"] | STOPWORDS["en"])


class FaqError(ValueError):
    """An FAQ file that is not valid JSON or lacks the fields above."""


@dataclass(frozen=True)
class FaqEntry:
    id: str
    questions: dict[str, tuple[str, ...]]
    answers: dict[str, str]
    intents: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaqHit:
    entry: FaqEntry
    score: float
    language: str

    @property
    def answer(self) -> str:
        return self.entry.answers.get(self.language) or next(iter(self.entry.answers.values()))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _entries(data: Any) -> list[FaqEntry]:
    try:
        return [
            FaqEntry(
                id=str(item["id"]),
                questions={lang: tuple(qs) for lang, qs in item["questions"].items()},
                answers=dict(item["answer"]),
                intents=tuple(item.get("intents", ())),
            )
            for item in data["entries"]
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise FaqError(f"FAQ entry is missing {exc}") from None


class _Index:
    """Vectors of one language's question variants, with the entry each belongs to."""

    def __init__(self, entries: list[FaqEntry], language: str) -> None:
        self.owners: list[int] = []
        texts: list[str] = []
        for i, entry in enumerate(entries):
            for q in entry.questions.get(language, ()):
                if q:
                    texts.append(_fold(q))
                    self.owners.append(i)
        self.vectorizer = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words=_STOP)),
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
                ),
            ]
        )
        self.matrix = self.vectorizer.fit_transform(texts) if texts else None

    def scores(self, text: str, n_entries: int) -> np.ndarray:
        row: np.ndarray = self.scores_many([text], n_entries)[0]
        return row

    def scores_many(self, texts: Sequence[str], n_entries: int) -> np.ndarray:
        """One row per text: each entry's best similarity over its question variants."""
        best = np.zeros((len(texts), n_entries))
        if self.matrix is None or not texts:
            return best
        query = self.vectorizer.transform([_fold(t) for t in texts])
        # Each half of the union is L2-normalised, so the dot product lies in [0, 2]. Every
        # column of the product depends on its own text only, so a batch scores each text
        # exactly as it would be scored alone.
        sims = (self.matrix @ query.T).toarray() / 2.0
        owners = np.array(self.owners)
        for row in range(len(texts)):
            np.maximum.at(best[row], owners, sims[:, row])
        return best


class KnowledgeBase:
    """``search(text, language)``: best FAQ entries; ``for_intent``: the entry tied to an intent."""

    def __init__(self, entries: list[FaqEntry], business: str = "") -> None:
        self.entries = entries
        self.business = business
        self._indexes: dict[str, _Index] = {}
        self._prepared: BoundedMemo[tuple[str, str], np.ndarray] = BoundedMemo(PREPARED_MAX)

    @classmethod
    def from_json(cls, raw: str) -> KnowledgeBase:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FaqError(f"FAQ is not JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise FaqError("FAQ must be a JSON object with 'entries'")
        return cls(_entries(data), str(data.get("business", "")))

    @classmethod
    def shipped(cls) -> KnowledgeBase:
        raw = resources.files("ssmas.assistant.data").joinpath("faq.json").read_text("utf-8")
        return cls.from_json(raw)

    def _index(self, language: str) -> _Index:
        if language not in self._indexes:
            self._indexes[language] = _Index(self.entries, language)
        return self._indexes[language]

    def _hits(self, scores: np.ndarray, language: str, k: int) -> list[FaqHit]:
        order = np.argsort(-scores)[:k]
        return [FaqHit(self.entries[i], float(scores[i]), language) for i in order if scores[i] > 0]

    def search(self, text: str, language: str, k: int = 3) -> list[FaqHit]:
        """The ``k`` best entries for ``text`` (prepared scores when ``prepare`` saw it)."""
        scores = self._prepared.get((text, language))
        if scores is None:
            scores = self._index(language).scores(text, len(self.entries))
        return self._hits(scores, language, k)

    def search_many(self, texts: Sequence[str], language: str, k: int = 3) -> list[list[FaqHit]]:
        """``[search(t, language, k) for t in texts]`` in one vectorisation."""
        scores = self._index(language).scores_many(texts, len(self.entries))
        return [self._hits(row, language, k) for row in scores]

    def prepare(self, texts: Sequence[str], language: str) -> None:
        """Score ``texts`` in one go and keep the scores for ``search`` / ``best`` on them.

        At most ``PREPARED_MAX`` texts are kept (the oldest are dropped); a text never prepared,
        or dropped, is scored on its own as before, so results never depend on preparation."""
        index = self._index(language)
        self._prepared.get_many(
            [(text, language) for text in texts],
            lambda keys: list(index.scores_many([t for t, _ in keys], len(self.entries))),
        )

    def clear_prepared(self) -> None:
        """Forget every prepared score (``prepare`` keeps them until ``PREPARED_MAX``)."""
        self._prepared.clear()

    def best(self, text: str, language: str, min_score: float = MIN_SCORE) -> FaqHit | None:
        hits = self.search(text, language, k=1)
        return hits[0] if hits and hits[0].score >= min_score else None

    def for_intent(self, intent: str, language: str) -> FaqHit | None:
        for entry in self.entries:
            if intent in entry.intents:
                return FaqHit(entry, 1.0, language)
        return None
