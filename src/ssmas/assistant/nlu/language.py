"""Spanish or English: a character n-gram naive Bayes model with a few orthographic certainties.

Trained on the Spanish corpora (tod_es, airline tweets) against the English ones (Banking77,
Bitext, CLINC150). Marks only Spanish uses (``¿ ¡ ñ``) settle a text at once; a text with no
letters (an emoji, a number) gets the caller's default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import MultinomialNB

from ssmas.assistant.nlu import lean

Language = str  # "es" or "en"
LANGUAGES = ("en", "es")
_SPANISH_MARKS = re.compile(r"[¿¡ñÑ]")
_NOISE = re.compile(r"https?://\S+|@\w+|#\w+|\d+")
_LETTER = re.compile(r"[^\W\d_]")


def clean_for_language(text: str) -> str:
    """Lower-case text without URLs, mentions, hashtags and digits (they carry no language)."""
    return _NOISE.sub(" ", text).lower().strip()


class LanguageDetector:
    """``fit(texts, languages)``; ``detect(text) -> (language, probability)``."""

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def fit(self, texts: Sequence[str], languages: Sequence[Language]) -> LanguageDetector:
        self.vectorizer_ = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=2
        )
        x = self.vectorizer_.fit_transform([clean_for_language(t) for t in texts])
        self.model_ = MultinomialNB(alpha=self.alpha).fit(x, list(languages))
        self.classes_: list[str] = [str(c) for c in self.model_.classes_]
        return self

    def detect(self, text: str, default: Language = "es") -> tuple[Language, float]:
        return self.detect_scored([text], default)[0]

    def detect_scored(
        self, texts: Sequence[str], default: Language = "es"
    ) -> list[tuple[Language, float]]:
        """``(language, probability)`` of every text; the model runs once for all of them."""
        found: list[tuple[Language, float]] = [(default, 0.5)] * len(texts)
        modelled: list[int] = []
        cleaned = [clean_for_language(t) for t in texts]
        for i, text in enumerate(cleaned):
            if not _LETTER.search(text):
                continue
            if _SPANISH_MARKS.search(text):
                found[i] = ("es", 1.0)
            else:
                modelled.append(i)
        if modelled:
            x = lean.transform(self.vectorizer_, [cleaned[i] for i in modelled])
            proba = lean.nb_proba(self.model_, x)
            for row, i in enumerate(modelled):
                best = int(np.argmax(proba[row]))
                found[i] = (self.classes_[best], float(proba[row, best]))
        return found

    def detect_many(self, texts: Sequence[str], default: Language = "es") -> list[Language]:
        return [language for language, _ in self.detect_scored(texts, default)]
