"""The real brain's fast paths against its plain ones (differential), on the domain model that
``train_assistant`` produces: entities of a whole round tagged at once (and remembered) equal
each text tagged alone by a fresh extractor, and conversations answered round by round with
``prepare`` (batched NLU, remembered entities and embeddings) get the same understanding,
decision and reply as a brain that answers every message alone with nothing remembered."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import numpy as np
import pytest

from ssmas.assistant.context import ContextWindow
from ssmas.assistant.nlu import load_nlu, train_assistant
from ssmas.assistant.nlu.entities import (
    EntityExtractor,
    _features,
    _int32,
    _normalised,
    _ovr_scores,
    _tokens,
)
from ssmas.assistant.seed_brain import SeedBrain, brain_from_settings
from ssmas.assistant.store import Turn
from ssmas.settings import Settings
from tests.integration.test_assistant_nlu import SHARED, _cut_corpora

pytestmark = pytest.mark.skipif(
    not (SHARED / "intents").is_dir(), reason=f"shared NLU corpora not found at {SHARED}"
)

# Each customer's messages, in order: knowledge-base questions, forms opened and then filled by
# the next message, a form filled at once, escalations, small talk, out of scope, odd texts.
CONVERSATIONS: list[list[str]] = [
    ["Necesito la factura, por favor", "marzo"],
    ["I need my invoice please", "June"],
    ["Hola, me han bajado mucho los ingresos esta semana", "recetasfaciles.com"],
    ["My revenue dropped a lot since Monday", "techdaily.io", "thanks a lot, that helped"],
    ["Quiero cambiar el método de cobro", "por PayPal"],
    ["I want to change how I get paid", "Payoneer please"],
    ["Can you send me the invoice for March? My publisher ID is 48213."],
    ["¿Me mandas la factura de agosto? (cuenta 99120)"],
    ["What is the minimum payout in Mexico?", "How do I set up ads.txt on viajeros.mx?"],
    ["¿Cuál es el pago mínimo para cobrar?", "¿Cómo configuro el ads.txt en motorblog.es?"],
    ["¿Qué es el tráfico inválido y por qué me descontáis 728 euros?"],
    ["This is unacceptable, you still owe me 2917 dollars, I want a manager NOW"],
    ["Es una vergüenza, me debéis 2023 euros, quiero hablar con un responsable"],
    ["Quiero hablar con una persona"],
    ["Hi there", "ok bye"],
    ["Hola, buenas tardes", "Muchas gracias, todo perfecto", "vale, hasta luego"],
    ["What's the weather in Lima tomorrow?", "Can you recommend a pizza place in Denver?"],
    ["¿Qué tiempo hará mañana en Sevilla?", "¿Me recomiendas una película?"],
    ["👍", "12345", "   "],
    ["What is the minimum payout in Mexico?"],  # the same text as another customer's
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = _cut_corpora(tmp_path_factory.mktemp("corpora"))
    settings = Settings(profile="test", data_dir=tmp_path_factory.mktemp("model"))
    train_assistant(settings, use_embeddings=False, register_model=False, root=root)
    return settings


def _fresh(extractor: EntityExtractor) -> EntityExtractor:
    """The same model with nothing remembered (the memo is not pickled)."""
    copy: EntityExtractor = pickle.loads(pickle.dumps(extractor))
    assert "_memo_" not in copy.__dict__
    return copy


def test_entities_of_a_round_equal_each_text_tagged_alone(trained: Settings) -> None:
    extractor = load_nlu(trained, train_if_missing=False).bundle.entities
    texts = [text for messages in CONVERSATIONS for text in messages]
    items = [(t, lang) for t in texts for lang in ("es", "en")]
    batched = extractor.extract_many([t for t, _ in items], [lang for _, lang in items])
    alone = [tuple(_fresh(extractor).extract(t, lang)) for t, lang in items]
    assert batched == alone
    assert sum(1 for found in alone if found) >= 8  # months, sites, methods, amounts
    assert any(e.source == "tagger" for found in alone for e in found) or any(
        e.source == "lookup" for found in alone for e in found
    )
    # remembered: asked again, in another order, the same answers
    again = extractor.extract_many([t for t, _ in reversed(items)], [g for _, g in reversed(items)])
    assert again == list(reversed(batched))
    assert extractor.extract_many([], []) == []


def test_tag_probabilities_of_a_round_equal_scikit_learns_for_each_text(
    trained: Settings,
) -> None:
    """The stacked one-vs-rest product, normalised per text, is ``predict_proba`` on that text
    alone, bit for bit (one-token texts included, whose sums numpy adds in another order)."""
    extractor = load_nlu(trained, train_if_missing=False).bundle.entities
    texts = [text for messages in CONVERSATIONS for text in messages]
    for language in ("es", "en"):
        vectorizer, model = extractor.taggers_[language]
        tokens = [_tokens(text) for text in texts]
        rows = [_features(toks, i) for toks in tokens for i in range(len(toks))]
        x = _int32(vectorizer.transform(rows))
        scores = _ovr_scores(model, x)
        assert scores is not None  # the shipped tagger takes the fast path
        offset = 0
        for toks in tokens:
            end = offset + len(toks)
            if toks:
                expected = model.predict_proba(x[offset:end])
                assert np.array_equal(_normalised(scores[offset:end]), expected)
            offset = end


def _step(brain: SeedBrain, text: str, window: ContextWindow) -> tuple[object, ...]:
    """What the pipeline asks of the brain for one message, and the turns it then keeps."""
    u = brain.understand(text, window.language)
    u = brain.follow(text, u, window)
    decision = brain.judge(text, u, window)
    reply = None if decision.escalate else brain.reply(text, u, window)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    window.turns.append(Turn("user", text, now, u.intent))
    if reply is not None:
        window.turns.append(Turn("bot", reply, now))
    window.language = u.language
    return u, decision, reply


def test_conversations_answered_in_rounds_equal_each_message_alone(trained: Settings) -> None:
    batched, alone = brain_from_settings(trained), brain_from_settings(trained)
    windows = {
        brain_id: [ContextWindow(n, 1, "bot") for n in range(len(CONVERSATIONS))]
        for brain_id in ("batched", "alone")
    }
    replies: list[str] = []
    escalated = 0
    depth = max(len(messages) for messages in CONVERSATIONS)
    for k in range(depth):  # round k: every customer's k-th message, as the pipeline cuts them
        round_ = [(n, messages[k]) for n, messages in enumerate(CONVERSATIONS) if k < len(messages)]
        batched.prepare([(text, windows["batched"][n].language) for n, text in round_])
        for n, text in round_:
            got = _step(batched, text, windows["batched"][n])
            alone.nlu.bundle.entities.__dict__.pop("_memo_", None)  # nothing remembered
            expected = _step(alone, text, windows["alone"][n])
            assert got == expected, (n, text)
            reply = got[2]
            if isinstance(reply, str):
                replies.append(reply)
            else:
                escalated += 1
    # the conversations went where they were meant to: forms asked, then completed with the
    # slot the customer's next message gave, and escalations
    assert any("¿De qué mes" in r for r in replies)
    assert any("Which month" in r for r in replies)
    assert any("June" in r and "Invoices" in r for r in replies)
    assert any("PayPal" in r and "Anotado" in r for r in replies)
    assert escalated >= 1
