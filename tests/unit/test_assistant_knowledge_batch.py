"""FAQ retrieval in batches: ``search_many`` and ``prepare`` give exactly what ``search`` gives
one text at a time."""

from __future__ import annotations

import pytest

from ssmas.assistant import knowledge as knowledge_module
from ssmas.assistant.knowledge import KnowledgeBase

TEXTS = {
    "es": [
        "¿Cuál es el pago mínimo?",
        "¿Cómo descargo mi factura?",
        "no me han pagado este mes",
        "mi ecpm ha bajado mucho",
        "quiero cerrar mi cuenta",
        "olvidé mi contraseña",
        "¿a qué hora abre soporte?",
        "hola",
        "",
        "🙂",
        "12345",
        "¿Cómo descargo mi factura?",  # a repeat
    ],
    "en": [
        "What is the minimum payout?",
        "How do I download my invoice?",
        "my revenue numbers do not match",
        "why was my site rejected",
        "what is ads.txt",
        "invalid traffic on my account",
        "I forgot my password",
        "close my account please",
        "thanks!",
        "   ",
        "the weather in Paris",
    ],
}


def _view(hits: list[knowledge_module.FaqHit]) -> list[tuple[str, float, str]]:
    return [(h.entry.id, h.score, h.language) for h in hits]


def test_search_many_matches_search_one_by_one() -> None:
    kb = KnowledgeBase.shipped()
    for language, texts in TEXTS.items():
        for k in (1, 3, 5):
            alone = [_view(kb.search(t, language, k)) for t in texts]
            together = [_view(hits) for hits in kb.search_many(texts, language, k)]
            assert together == alone
    assert kb.search_many([], "es") == []
    # the good questions did find their entries
    assert kb.search("¿Cuál es el pago mínimo?", "es", 1)[0].entry.id == "payment_threshold"


def test_prepared_scores_serve_search_and_best_with_the_same_results() -> None:
    plain, prepared = KnowledgeBase.shipped(), KnowledgeBase.shipped()
    for language, texts in TEXTS.items():
        prepared.prepare(texts, language)
    assert len(prepared._prepared) == sum(len(set(t)) for t in TEXTS.values())
    for language, texts in TEXTS.items():
        for text in texts:
            assert _view(prepared.search(text, language)) == _view(plain.search(text, language))
            assert prepared.best(text, language) == plain.best(text, language)
    # an unprepared text, or another language, is scored on its own
    assert _view(prepared.search("invoice", "es")) == _view(plain.search("invoice", "es"))
    prepared.clear_prepared()
    assert len(prepared._prepared) == 0


def test_prepared_scores_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(knowledge_module, "PREPARED_MAX", 5)
    kb = KnowledgeBase.shipped()
    kb.prepare([f"factura {i}" for i in range(8)], "es")
    assert list(kb._prepared) == [(f"factura {i}", "es") for i in range(3, 8)]
    assert _view(kb.search("factura 0", "es")) == _view(
        KnowledgeBase.shipped().search("factura 0", "es")
    )
