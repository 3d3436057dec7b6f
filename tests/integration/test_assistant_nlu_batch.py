"""The real brain's batched round (``SeedBrain.prepare``) against its one-by-one path, on a
model trained from a cut of the shared corpora: the same understanding, decision and reply for
every message, and ``NLU.analyse_many`` equal to ``analyse`` text by text."""

from __future__ import annotations

import pytest

from ssmas.assistant.context import ContextWindow
from ssmas.assistant.knowledge import KnowledgeBase
from ssmas.assistant.nlu import NLU, load_nlu, train_nlu
from ssmas.assistant.seed_brain import SeedBrain
from ssmas.settings import Settings
from tests.integration.test_assistant_nlu import SHARED, _cut_corpora

pytestmark = pytest.mark.skipif(
    not (SHARED / "intents").is_dir(), reason=f"shared NLU corpora not found at {SHARED}"
)

# (text, language hint): Spanish and English, ambiguous and empty texts, a repeat, and the
# same text under different hints (the hint decides only when detection is unsure).
ITEMS: list[tuple[str, str | None]] = [
    ("Pon una alarma para mañana a las siete", None),
    ("¿Cuál es el pago mínimo?", "es"),
    ("¿Cómo descargo mi factura?", None),
    ("Recuérdame llamar a mi madre el lunes", "es"),
    ("¿Va a llover en Madrid este fin de semana?", None),
    ("Quiero cancelar mi cuenta, estoy harto del servicio", "es"),
    ("No me habéis pagado este mes, es una vergüenza", None),
    ("Gracias, todo perfecto 😊", "es"),
    ("olvidé mi contraseña", "en"),
    ("quiero una devolución ya", None),
    ("hola", None),
    ("hola", "en"),
    ("hola", "es"),
    ("ok", "es"),
    ("ok", "en"),
    ("ok", None),
    ("vale", None),
    ("My card was stolen yesterday, please block it", None),
    ("I want a refund, this is terrible and unacceptable!", "en"),
    ("How do I download my invoice?", "es"),
    ("What is the minimum payout?", None),
    ("The exchange rate you used is wrong", "en"),
    ("When will my new card arrive?", None),
    ("Please close my account", None),
    ("I need to speak to a manager about my complaint", "en"),
    ("thanks a lot, great service", None),
    ("what's the weather like in Paris", None),
    ("hello", "es"),
    ("", "es"),
    ("   ", None),
    ("🙂", "en"),
    ("12345", None),
    ("https://example.com @someone", "es"),
    ("¿Cómo descargo mi factura?", None),  # a repeat in the same round
    ("My card was stolen yesterday, please block it", "es"),
    ("cancel order 8812 now!!!", None),
    ("12345", "en"),
    ("👍👍", "en"),
    ("no", "en"),
    ("si", "en"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = _cut_corpora(tmp_path_factory.mktemp("corpora"))
    settings = Settings(profile="test", data_dir=tmp_path_factory.mktemp("data"))
    train_nlu(settings, use_embeddings=False, register_model=False, root=root)
    return settings


def test_analyse_many_equals_analyse_one_by_one(trained: Settings) -> None:
    nlu = load_nlu(trained, train_if_missing=False)
    texts = [text for text, _ in ITEMS]
    assert nlu.analyse_many(texts) == [nlu.analyse(t) for t in texts]
    forced = [hint for _, hint in ITEMS]
    assert nlu.analyse_many(texts, forced) == [
        nlu.analyse(t, language=f) for t, f in zip(texts, forced, strict=True)
    ]
    assert nlu.analyse_many([]) == []
    with pytest.raises(ValueError, match="one language"):
        nlu.analyse_many(["a", "b"], ["es"])
    detected = nlu.detect_languages(texts)
    assert detected == [nlu.detect_language(t) for t in texts]
    assert {lang for lang, _ in detected} == {"es", "en"}


def _brains(nlu: NLU) -> tuple[SeedBrain, SeedBrain]:
    return SeedBrain(nlu, KnowledgeBase.shipped()), SeedBrain(nlu, KnowledgeBase.shipped())


def test_prepared_round_answers_exactly_as_one_by_one(trained: Settings) -> None:
    nlu = load_nlu(trained, train_if_missing=False)
    alone, batched = _brains(nlu)
    batched.prepare(ITEMS)
    assert len(batched._prepared) == len(set(ITEMS))
    window = ContextWindow(1, 1, "bot", None, "")
    sources: set[str] = set()
    for text, hint in ITEMS:
        expected = alone.understand(text, hint)
        got = batched.understand(text, hint)
        assert got == expected, (text, hint)
        assert batched._prepared[(text, hint)] is got  # served from the round, not recomputed
        assert batched.judge(text, got, window) == alone.judge(text, expected, window)
        assert batched.reply(text, got, window) == alone.reply(text, expected, window)
        sources.add(expected.language)
    assert sources == {"es", "en"}
    # the hint decides for an unsure text and only then
    assert batched.understand("👍👍", "en").language == "en"
    assert batched.understand("12345", None).language == "es"
    assert batched.understand("¿Cuál es el pago mínimo?", "en").language == "es"


def test_a_new_round_replaces_the_previous_one(trained: Settings) -> None:
    nlu = load_nlu(trained, train_if_missing=False)
    alone, batched = _brains(nlu)
    batched.prepare(ITEMS[:5])
    batched.prepare([("Please close my account", None)])
    assert list(batched._prepared) == [("Please close my account", None)]
    text, hint = ITEMS[0]  # no longer prepared: computed on its own, same answer
    assert batched.understand(text, hint) == alone.understand(text, hint)
    batched.prepare([])
    assert batched._prepared == {}


def test_a_round_with_a_domain_skips_the_faq_scores(trained: Settings) -> None:
    """With the trained domain the replies come from the dialogue policy (knowledge base
    searched per reply), so ``prepare`` no longer scores the shipped FAQ for the round."""
    nlu = load_nlu(trained, train_if_missing=False)
    alone, batched = _brains(nlu)
    items = [("¿Cuál es el pago mínimo?", None), ("What is the minimum payout?", None)]
    batched.prepare(items)
    assert len(batched.knowledge._prepared) == 0
    window = ContextWindow(1, 1, "bot", None, "")
    for text, hint in items:
        u = batched.understand(text, hint)
        assert u.intent == "payment_threshold"
        assert batched.reply(text, u, window) == alone.reply(
            text, alone.understand(text, hint), window
        )
