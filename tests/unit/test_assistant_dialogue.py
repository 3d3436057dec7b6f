"""The dialogue policy on the shipped domain, fed understandings directly: forms ask for the
missing slot in the conversation's language and answer once it is given, rules hand off,
knowledge-base answers carry their source, and an unsure match is asked about, not guessed."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from ssmas.assistant.brain import Understanding
from ssmas.assistant.context import ContextWindow
from ssmas.assistant.dialogue import Dialogue
from ssmas.assistant.kb import KnowledgeIndex, Passage, shipped_passages
from ssmas.assistant.nlu.domain import load_domain
from ssmas.assistant.nlu.entities import EntityExtractor
from ssmas.assistant.store import Turn


@pytest.fixture(scope="module")
def dialogue() -> Dialogue:
    domain = load_domain()
    extra = Passage(
        "Header bidding wrappers must load our adapter before the auction timeout of 1500 ms.",
        "Prebid timeouts",
        "integration.md",
        "Prebid timeouts",
        "en",
    )
    kb = KnowledgeIndex.build([*shipped_passages(), extra])
    return Dialogue(domain, EntityExtractor().fit(domain), kb)


def understood(language: str, intent: str, confidence: float = 0.95) -> Understanding:
    return Understanding(language, intent, confidence, out_of_scope=intent == "out_of_scope")


def talk(d: Dialogue, window: ContextWindow, text: str, u: Understanding) -> str:
    u = d.follow(text, u, window)
    decision = d.respond(text, u, window)
    now = datetime.now(UTC)
    window.turns += [Turn("user", text, now, u.intent), Turn("bot", decision.text, now)]
    window.language = u.language
    return decision.text


def test_invoice_form_asks_for_the_month_then_answers(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot")
    ask = talk(dialogue, window, "Necesito una factura", understood("es", "invoice"))
    assert ask == "¿De qué mes necesitas la factura?"
    assert dialogue.active_form(window) == (dialogue.domain.forms["invoice_form"], "month")
    # "marzo" alone is out of scope for the classifier; the form reads it as the answer
    marzo = understood("es", "out_of_scope", 0.3)
    followed = dialogue.follow("marzo", marzo, window)
    assert (followed.intent, followed.out_of_scope) == ("invoice", False)
    done = talk(dialogue, window, "marzo", marzo)
    assert done.startswith("La factura de marzo está en Pagos > Facturas")
    assert dialogue.active_form(window) is None


def test_a_message_with_the_slot_skips_the_question(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot")
    reply = talk(dialogue, window, "My RPM dropped on mysite.com", understood("en", "revenue_drop"))
    assert reply.startswith("Thanks. For mysite.com:")


def test_short_answer_keeps_the_conversation_language(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot")
    talk(dialogue, window, "Quiero cambiar mi método de pago", understood("es", "payment_details"))
    # language detection of one word is a guess; the conversation's language wins
    done = talk(dialogue, window, "Payoneer", understood("en", "out_of_scope", 0.4))
    assert done.startswith("Anotado: quieres cobrar por Payoneer.")


def test_changing_topic_leaves_the_form(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot")
    talk(dialogue, window, "Necesito una factura", understood("es", "invoice"))
    reply = talk(dialogue, window, "Gracias, ya no hace falta", understood("es", "thank"))
    assert reply == "¡Gracias a ti! Si necesitas algo más, escríbeme aquí."


def test_rules_hand_off(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot")
    assert dialogue.action(understood("en", "human_agent"), window) == "handoff"
    first = talk(dialogue, window, "Who won the 1986 world cup?", understood("en", "out_of_scope"))
    assert first.startswith("I'm not sure I understood")
    assert dialogue.action(understood("en", "out_of_scope"), window) == "handoff"


def test_knowledge_answers_cite_their_source(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot")
    decision = dialogue.respond(
        "What is the minimum payout?", understood("en", "payment_threshold"), window
    )
    assert decision.source == "kb" and "100 EUR" in decision.text
    assert decision.text.endswith(
        "Source: What is the minimum payout? (faq.json, payment_threshold)"
    )
    # an off-domain question the team's document answers
    decision = dialogue.respond(
        "What is the auction timeout for header bidding wrappers and our adapter?",
        understood("en", "out_of_scope", 0.2),
        window,
    )
    assert decision.source == "kb"
    assert decision.text.endswith("Source: Prebid timeouts (integration.md)")


def test_unsure_match_is_asked_about_not_answered(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot")
    decision = dialogue.respond(
        "prebid adapter timeout issue", understood("en", "out_of_scope", 0.2), window
    )
    assert decision.source == "clarify", decision
    assert decision.text.startswith("I'm not sure I understood. Are you asking about")
    assert "1500" not in decision.text  # the passage is not served as an answer
    now = datetime.now(UTC)
    window.turns += [
        Turn("user", "prebid adapter timeout issue", now),
        Turn("bot", decision.text, now),
    ]
    assert dialogue.previous_action(window) == "utter_ask_rephrase"


class GroundedLLM:
    """Records the prompt; answers with a cited sentence in English."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def complete(self, messages: list[Any], **kwargs: Any) -> Any:
        from ssmas.core.llm import Completion

        self.prompts.append(messages[0].content)
        text = "You get paid once your balance reaches 100 EUR. Source: faq.json"
        return Completion(text=text, model="m", provider="fake")


def test_llm_answers_are_grounded_on_the_passages_and_forms_never_go_to_it(
    dialogue: Dialogue,
) -> None:
    from ssmas.assistant.knowledge import KnowledgeBase
    from ssmas.assistant.seed_brain import SeedBrain

    nlu = SimpleNamespace(
        bundle=SimpleNamespace(domain=dialogue.domain, entities=dialogue.extractor), encoder=None
    )
    llm = GroundedLLM()
    brain = SeedBrain(nlu, KnowledgeBase.shipped(), llm=llm, kb=dialogue.kb)  # type: ignore[arg-type]
    window = ContextWindow(1, 1, "bot")
    answer = brain.reply(
        "What is the minimum payout?", understood("en", "payment_threshold"), window
    )
    assert answer == "You get paid once your balance reaches 100 EUR. Source: faq.json"
    (prompt,) = llm.prompts
    assert "Answer only from these passages" in prompt
    assert "[1] (What is the minimum payout? (faq.json, payment_threshold)) The minimum" in prompt
    ask = brain.reply("Necesito una factura", understood("es", "invoice"), window)
    assert ask == "¿De qué mes necesitas la factura?" and len(llm.prompts) == 1


def test_an_unplaced_answer_gets_the_question_once_more_then_the_rules(
    dialogue: Dialogue,
) -> None:
    window = ContextWindow(1, 1, "bot")
    question = "¿De qué mes necesitas la factura?"
    assert talk(dialogue, window, "Necesito una factura", understood("es", "invoice")) == question
    assert talk(dialogue, window, "no sé", understood("es", "out_of_scope", 0.3)) == question
    again = talk(dialogue, window, "ni idea", understood("es", "out_of_scope", 0.3))
    assert again.startswith("No estoy seguro de haberte entendido")
    assert dialogue.action(understood("es", "out_of_scope", 0.3), window) == "handoff"
