"""The seed's escalation score, reproduced exactly on a table of conversations.

Expected scores are worked out by hand from the seed (``should_escalate``):
negative sentiment with Negative > 0.8 → 30, confidence < 0.6 → 25, len(context) > 15 → 20,
a keyword (substring of the lower-cased message) → 35, complex query → 15; escalate at >= 50.
"""

from __future__ import annotations

import pytest

from ssmas.assistant.escalation import (
    THRESHOLD,
    handoff_message,
    has_escalation_keyword,
    is_complex_query,
    score_escalation,
)

LONG = " ".join(["word"] * 41)  # 41 words: complex by length

# (message, context length, confidence, sentiment, negative score, expected score, escalate)
TABLE = [
    # 35 (keyword "cancel") + 30 (negative 0.9) = 65
    ("I want to cancel everything, this is awful", 3, 0.9, "negative", 0.9, 65, True),
    # 35 ("manager") only: confident, neutral, short
    ("I want to talk to a manager", 2, 0.95, "neutral", 0.1, 35, False),
    # 35 ("manager") + 25 (0.55 < 0.6) = 60
    ("I want to talk to a manager", 2, 0.55, "neutral", 0.1, 60, True),
    # negative but exactly 0.8 is not > 0.8: 0; confidence exactly 0.6 is not < 0.6: 0
    ("This is not what I expected", 4, 0.6, "negative", 0.8, 0, False),
    # 30 + 25 = 55: angry and the bot is unsure, no keyword
    ("Nothing works and nobody answers", 4, 0.4, "negative", 0.95, 55, True),
    # context of 16 (> 15) → 20; 15 would give 0
    ("Still waiting", 16, 0.9, "neutral", 0.2, 20, False),
    ("Still waiting", 15, 0.9, "neutral", 0.2, 0, False),
    # 20 (long) + 25 (low confidence) + 15 (two questions) = 60
    ("Where is it? When will it come?", 20, 0.3, "neutral", 0.3, 60, True),
    # everything: 30 + 25 + 20 + 35 + 15 = 125
    ("Refund now? Or a supervisor? " + LONG, 30, 0.1, "negative", 0.99, 125, True),
    # Spanish keywords: "devuelvan" and "cancelar" → 35; + 30 negative = 65 (sample 01)
    (
        "Hola, mi pedido #4821 llegó roto. Quiero cancelar y que me devuelvan el dinero. "
        "¡Es la tercera vez!",
        1,
        0.85,
        "negative",
        0.86,
        65,
        True,
    ),
    # "reclamación" with the accent still matches → 35; + 15 complex (41+ words) = 50
    ("Presento una reclamación " + LONG, 2, 0.9, "neutral", 0.1, 50, True),
    # "queja" → 35 + 15 (two questions) = 50, exactly the threshold
    ("¿Dónde pongo una queja? ¿A quién escribo?", 2, 0.7, "neutral", 0.3, 50, True),
    # substring semantics of the seed: "cancellation" contains "cancel" → 35
    ("What is the cancellation policy", 1, 0.9, "neutral", 0.1, 35, False),
    # sentiment label other than negative never scores, whatever the negative score
    ("meh", 1, 0.9, "neutral", 0.99, 0, False),
]


@pytest.mark.parametrize(
    ("message", "context", "confidence", "sentiment", "negative", "expected", "escalate"), TABLE
)
def test_seed_scores(
    message: str,
    context: int,
    confidence: float,
    sentiment: str,
    negative: float,
    expected: int,
    escalate: bool,
) -> None:
    decision = score_escalation(
        message,
        context_length=context,
        ai_confidence=confidence,
        sentiment=sentiment,
        negative_score=negative,
    )
    assert decision.score == expected
    assert decision.escalate is escalate
    assert decision.escalate == (expected >= THRESHOLD)


def test_reasons_follow_the_seed_order_and_wording() -> None:
    decision = score_escalation(
        "Refund now? Or a supervisor? " + LONG,
        context_length=30,
        ai_confidence=0.1,
        sentiment="NEGATIVE",
        negative_score=0.99,
    )
    assert decision.reasons == (
        "Negative sentiment detected",
        "Low AI confidence",
        "Long conversation without resolution",
        "Escalation keywords detected",
        "Complex query detected",
    )
    assert decision.codes[0] == "negative_sentiment"


def test_priority_and_department() -> None:
    angry_refund = score_escalation(
        "I want a refund for this invoice",
        context_length=1,
        ai_confidence=0.9,
        sentiment="negative",
        negative_score=0.9,
    )
    assert angry_refund.priority == "high" and angry_refund.department == "billing"
    unsure = score_escalation(
        "The ads.txt check shows an error",
        context_length=2,
        ai_confidence=0.3,
        sentiment="negative",
        negative_score=0.85,
    )
    assert unsure.score == 55 and unsure.priority == "medium"
    assert unsure.department == "technical"
    calm = score_escalation(
        "hello", context_length=1, ai_confidence=0.9, sentiment="neutral", negative_score=0.1
    )
    assert calm.priority == "low" and calm.department == "customer_service"
    by_intent = score_escalation(
        "hello",
        context_length=1,
        ai_confidence=0.9,
        sentiment="neutral",
        negative_score=0.1,
        intent="cancel_order",
    )
    assert by_intent.department == "retention"


def test_keyword_and_complexity_helpers() -> None:
    assert has_escalation_keyword("QUIERO UN REEMBOLSO")
    assert has_escalation_keyword("Necesito hablar con el Gerente")
    assert not has_escalation_keyword("¿Cuándo me pagan?")
    assert is_complex_query("a? b?") and not is_complex_query("just one?")
    assert handoff_message("es").startswith("Te estoy conectando")
    assert handoff_message("en").startswith("I'm connecting")
