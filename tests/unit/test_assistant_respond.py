"""Offline responder: FAQ retrieval, intent templates, reply checks, in the customer's language."""

from __future__ import annotations

import pytest

from ssmas.assistant.escalation import score_escalation
from ssmas.assistant.knowledge import FaqError, KnowledgeBase
from ssmas.assistant.nlu.analyser import NluResult
from ssmas.assistant.respond import FALLBACK, check_reply, compose_reply, language_of


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.shipped()


def nlu(
    language: str, intent: str = "out_of_scope", confidence: float = 0.1, oos: bool = True
) -> NluResult:
    return NluResult(language, intent, confidence, oos, "neutral", 0.6, 0.2)


@pytest.mark.parametrize(
    ("question", "language", "entry"),
    [
        ("when will I receive my money for last month?", "en", "payment_schedule"),
        ("¿cuándo me van a pagar mis ganancias de marzo?", "es", "payment_schedule"),
        ("what lines go in ads.txt", "en", "ads_txt"),
        ("necesito descargar la factura", "es", "invoices"),
        ("my ecpm dropped a lot", "en", "ecpm_drop"),
        ("olvide mi contrasena", "es", "password"),
    ],
)
def test_faq_retrieval_finds_the_entry(
    kb: KnowledgeBase, question: str, language: str, entry: str
) -> None:
    hit = kb.best(question, language)
    assert hit is not None and hit.entry.id == entry
    assert check_reply(hit.answer, language) == []


def test_every_shipped_answer_passes_the_checks_in_both_languages(kb: KnowledgeBase) -> None:
    for entry in kb.entries:
        assert set(entry.answers) == {"es", "en"}
        for language, answer in entry.answers.items():
            assert check_reply(answer, language) == [], (entry.id, language)


def test_unrelated_text_finds_nothing(kb: KnowledgeBase) -> None:
    assert kb.best("zxqv blorp", "en") is None


def test_bad_faq_files_are_refused() -> None:
    with pytest.raises(FaqError):
        KnowledgeBase.from_json("{not json")
    with pytest.raises(FaqError):
        KnowledgeBase.from_json('{"entries": [{"id": "x"}]}')


@pytest.mark.parametrize(
    ("text", "language", "problems"),
    [
        ("Tu pago llegará el día 5 de cada mes.", "es", []),
        ("Your payment arrives on the 5th of each month.", "en", []),
        ("Your payment arrives on the 5th of each month.", "es", ["wrong_language"]),
        ("Escríbenos a soporte@example.com si quieres.", "es", ["email"]),
        ("Call us on +34 612 345 678 any time you like.", "en", ["phone_number"]),
        ("The card 4111 1111 1111 1111 was charged for the order.", "en", ["card_number"]),
        ("Hola {name}, ¿qué tal estás hoy?", "es", ["placeholder"]),
        ("", "es", ["empty"]),
        ("a" * 1001, "en", ["too_long"]),
        # an order number is not a phone number; numbers with few digits are fine
        ("Your order 4821 ships on 2025-06-10 to you.", "en", []),
    ],
)
def test_check_reply(text: str, language: str, problems: list[str]) -> None:
    assert check_reply(text, language) == problems


def test_language_of_needs_evidence() -> None:
    assert language_of("ok") is None
    assert language_of("quiero saber cuando llega el pago de mi cuenta") == "es"
    assert language_of("I want to know when the payment of my account arrives") == "en"


def test_handoff_when_escalating(kb: KnowledgeBase) -> None:
    decision = score_escalation(
        "Quiero cancelar y un reembolso ya",
        context_length=2,
        ai_confidence=0.9,
        sentiment="negative",
        negative_score=0.9,
    )
    reply = compose_reply("Quiero cancelar y un reembolso ya", nlu("es"), kb, escalation=decision)
    assert reply.source == "handoff" and reply.text.startswith("Te estoy conectando")


def test_greeting_uses_first_name_and_language(kb: KnowledgeBase) -> None:
    reply = compose_reply("Hola", nlu("es"), kb, customer_name="María López")
    assert reply.source == "smalltalk" and reply.text.startswith("¡Hola María!")
    reply = compose_reply("thanks!", nlu("en"), kb)
    assert reply.source == "smalltalk" and reply.language == "en"
    reply = compose_reply("Muchas gracias por todo 🙏", nlu("es"), kb)
    assert reply.source == "smalltalk"
    # thanks followed by a real question is not small talk
    reply = compose_reply("gracias, pero mi pago no llegó", nlu("es"), kb)
    assert reply.source != "smalltalk"


def test_confident_intent_gets_its_template_or_tied_faq(kb: KnowledgeBase) -> None:
    refund = compose_reply(
        "I would like my money back", nlu("en", "request_refund", 0.9, False), kb
    )
    assert refund.source == "template" and "refund" in refund.text
    closing = compose_reply("please do it", nlu("en", "terminate_account", 0.9, False), kb)
    assert closing.source == "faq" and closing.faq_id == "close_account"


def test_faq_beats_a_weak_intent_and_fallback_is_last(kb: KnowledgeBase) -> None:
    reply = compose_reply("¿Cuál es el pago mínimo?", nlu("es", "payment_issue", 0.3, False), kb)
    assert reply.source == "faq" and reply.faq_id == "payment_threshold"
    lost = compose_reply("zxqv blorp", nlu("en"), kb)
    assert lost.source == "fallback" and lost.text == FALLBACK["en"]
