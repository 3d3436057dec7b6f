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
    assert dialogue.action(understood("en", "out_of_scope"), window) == "utter_offer_handoff"
    offer = talk(dialogue, window, "And in 1990?", understood("en", "out_of_scope"))
    assert offer.endswith("Do you want me to connect you with a person from our team?")
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
    assert dialogue.action(understood("es", "out_of_scope", 0.3), window) == "utter_offer_handoff"


def _offered(dialogue: Dialogue, language: str) -> ContextWindow:
    """A conversation where the assistant has just offered a person (two misunderstandings)."""
    window = ContextWindow(1, 1, "bot", language=language)
    for text in ("¿Quién ganó el mundial de 1986?", "¿Y el de 1990?"):
        talk(dialogue, window, text, understood(language, "out_of_scope", 0.3))
    assert dialogue.previous_action(window) == "utter_offer_handoff"
    return window


@pytest.mark.parametrize(
    ("language", "yes", "no"),
    [
        ("es", "sí, por favor, pásame", "no, mejor sigo contigo"),
        ("en", "yes please", "no, not now"),
    ],
)
def test_yes_or_no_to_the_offer_hands_off_or_keeps_the_bot(
    dialogue: Dialogue, language: str, yes: str, no: str
) -> None:
    # the classifier never says affirm / deny: the rule's context reads them
    window = _offered(dialogue, language)
    read = dialogue.follow(yes, understood(language, "greet", 0.4), window)
    assert (read.intent, read.out_of_scope) == ("affirm", False)
    assert dialogue.action(read, window) == "handoff"
    assert dialogue.respond(yes, read, window).source == "handoff"
    window = _offered(dialogue, language)
    read = dialogue.follow(no, understood(language, "out_of_scope", 0.3), window)
    assert read.intent == "deny"
    reply = dialogue.respond(no, read, window)
    assert reply.action == "utter_no_handoff" and reply.source == "response"


def test_a_no_outside_the_offer_is_not_a_refusal(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot", language="es")
    talk(dialogue, window, "Hola", understood("es", "greet"))
    u = understood("es", "payment_status", 0.8)
    assert dialogue.follow("todavía no me pagan", u, window) == u  # nothing expects a yes / no
    window = _offered(dialogue, "es")
    complaint = "sigo sin recibir el pago de marzo, ¿qué pasa?"
    assert dialogue.follow(complaint, u, window).intent == "payment_status"


def test_a_question_interrupts_a_form_which_then_asks_again(dialogue: Dialogue) -> None:
    window = ContextWindow(1, 1, "bot", language="es")
    ask = talk(dialogue, window, "Necesito una factura", understood("es", "invoice"))
    assert ask == "¿De qué mes necesitas la factura?"
    question = "¿Cuál es el pago mínimo?"
    u = understood("es", "payment_threshold")
    decision = dialogue.respond(question, u, window)
    answer, _, again = decision.text.rpartition("\n\n")
    assert "100 EUR" in answer and again == ask
    assert decision.source == "form"  # never rewritten by an LLM: the question must stay
    talk(dialogue, window, question, u)
    assert dialogue.active_form(window) == (dialogue.domain.forms["invoice_form"], "month")
    done = talk(dialogue, window, "marzo", understood("es", "out_of_scope", 0.3))
    assert done.startswith("La factura de marzo está en Pagos > Facturas")
    # an intent no 'during' rule names leaves the form (as before)
    talk(dialogue, window, "Necesito otra factura", understood("es", "invoice"))
    assert talk(dialogue, window, "Hola", understood("es", "greet")).startswith("¡Hola!")
    assert dialogue.active_form(window) is None


@pytest.mark.parametrize(
    ("language", "first", "follow_up", "paid"),
    [
        ("en", "What is the minimum payout?", "and when is it paid?", "Earnings are paid net 60"),
        ("es", "¿Cuál es el pago mínimo?", "¿y cuándo se paga?", "Las ganancias se pagan a 60"),
    ],
)
def test_a_follow_up_is_read_in_the_light_of_the_previous_question(
    dialogue: Dialogue, language: str, first: str, follow_up: str, paid: str
) -> None:
    unsure = understood(language, "out_of_scope", 0.3)
    alone = ContextWindow(1, 1, "bot", language=language)
    assert dialogue.follow(follow_up, unsure, alone) == unsure  # on its own: nothing to go on
    window = ContextWindow(1, 1, "bot", language=language)
    talk(dialogue, window, first, understood(language, "payment_threshold"))
    read = dialogue.follow(follow_up, unsure, window)
    assert (read.intent, read.out_of_scope) == ("payment_status", False)
    decision = dialogue.respond(follow_up, read, window)
    assert decision.action == "utter_payment_status" and decision.text.startswith(paid)
    # after another topic, the same words are not that story's
    other = ContextWindow(1, 1, "bot", language=language)
    talk(dialogue, other, "Hola", understood(language, "greet"))
    assert dialogue.follow(follow_up, unsure, other) == unsure
