"""Context intents (``affirm``, ``deny`` ...): read only where the conversation expects them.

A bare "sí" or "no" means something only after a question; the intent classifier never sees
these intents (a "no" inside a complaint — "todavía no me pagan" — must stay a payment
question). Here one small classifier per language tells the context intents apart from
everything else the domain's examples say (class ``none``): word 1-2-gram and character
2-5-gram TF-IDF, accents folded, a LinearSVC with balanced classes. The dialogue policy asks it
only right after an action a rule or a story names (``Dialogue.expected_context``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ssmas.assistant.nlu.domain import Domain

NONE = "none"


def _model() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    words = TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), strip_accents="unicode", token_pattern=r"(?u)\b\w+\b"
    )
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), strip_accents="unicode")
    return make_pipeline(make_union(words, chars), LinearSVC(C=1.0, class_weight="balanced"))


class ContextIntents:
    """One context-intent classifier per language of ``domain`` (none without such intents)."""

    def __init__(self, domain: Domain) -> None:
        self.intents = frozenset(domain.context_intents)
        self._models: dict[str, Any] = {}
        if not self.intents:
            return
        for language in domain.languages:
            examples = domain.examples_in(language)
            labels = [e.intent if e.intent in self.intents else NONE for e in examples]
            if len(set(labels)) < 2:
                continue
            self._models[language] = _model().fit([e.text for e in examples], labels)

    def read(self, text: str, language: str, expected: Collection[str]) -> str | None:
        """The context intent of ``expected`` that ``text`` says in ``language``, else None."""
        model = self._models.get(language)
        if model is None or not text.strip():
            return None
        label = str(model.predict([text])[0])
        return label if label in expected else None
