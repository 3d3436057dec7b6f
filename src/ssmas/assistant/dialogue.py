"""The domain's dialogue policy: forms that ask for missing slots, rules, responses, and answers
from the knowledge base with their source, in the conversation's language.

State lives in the conversation itself (the context window's turns), so any worker answers
any message the same way: a form is active when the assistant's last turn was one of its
questions, and its slots are read again from the customer's turns since the form began.

``follow(text, understanding, window)`` re-reads a message in the light of an active form (a
bare "marzo" after "¿De qué mes necesitas la factura?" is the invoice intent with its month);
``action(understanding, window)`` is the rule's action (``handoff`` escalates);
``respond(text, understanding, window)`` writes the reply:

1. an active form whose intent this is: ask the next missing slot, or answer with the slots
   (an answer it cannot place gets the question once more, then the rules decide);
2. the rule for the intent (or ``out_of_scope`` when the classifier is unsure): a response, a
   form, a hand-off, or ``answer``;
3. ``answer``: a knowledge-base passage scoring at least ``STRONG_SCORE``, else the intent's
   response, else a passage over ``ANSWER_SCORE``;
4. out of scope: a passage over ``ANSWER_SCORE`` is answered with its source; one over
   ``ASK_SCORE`` makes the assistant ask whether that is the topic (it does not guess); below,
   the rule's action (ask to rephrase, and a hand-off when that already happened).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ssmas.assistant.escalation import handoff_message
from ssmas.assistant.nlu.domain import OUT_OF_SCOPE, PLACEHOLDER, Domain, Form
from ssmas.assistant.nlu.entities import Entity, EntityExtractor, slots_for

if TYPE_CHECKING:
    from ssmas.assistant.brain import Understanding
    from ssmas.assistant.context import ContextWindow
    from ssmas.assistant.kb import KbHit, KnowledgeIndex

INTENT_CONFIDENCE = 0.5
FORM_CONFIDENCE = 0.9
SHORT_ANSWER_WORDS = 3
REASK_LIMIT = 2  # a form's question is asked at most twice in a row
STRONG_SCORE = 0.6
ANSWER_SCORE = 0.45
ASK_SCORE = 0.3
ASK_REPHRASE = "utter_ask_rephrase"
SOURCE_WORD = {"es": "Fuente", "en": "Source"}
CLARIFY = {
    "es": "No estoy seguro de haberte entendido. ¿Preguntas por «{title}»? "
    "Confírmamelo o cuéntamelo con otras palabras; si prefieres, escribe 'agente'.",
    "en": "I'm not sure I understood. Are you asking about “{title}”? "
    "Confirm it or put it in other words; if you prefer, write 'agent'.",
}


@dataclass(frozen=True)
class Decision:
    """What the policy chose: ``source`` is form | response | kb | clarify | fallback | handoff."""

    text: str
    source: str
    action: str
    hits: tuple[KbHit, ...] = ()
    slots: dict[str, str] = field(default_factory=dict)


class Dialogue:
    def __init__(
        self,
        domain: Domain,
        extractor: EntityExtractor,
        kb: KnowledgeIndex | None = None,
        encoder: Any = None,
    ) -> None:
        self.domain = domain
        self.extractor = extractor
        self.kb = kb
        self.encoder = encoder
        self._asks: dict[str, tuple[Form, str]] = {}
        for form in domain.forms.values():
            for slot, by_language in form.ask.items():
                for text in by_language.values():
                    self._asks[text] = (form, slot)
        self._responses = {
            text: name for name, by_lang in domain.responses.items() for text in by_lang.values()
        }
        self._clarify_prefixes = tuple(t.split("{title}")[0] for t in CLARIFY.values())

    # -- state read from the window -----------------------------------------------------

    def language(self, u: Understanding) -> str:
        return u.language if u.language in self.domain.languages else self.domain.languages[0]

    def _last_bot(self, window: ContextWindow) -> str | None:
        turns = window.turns
        return turns[-1].text if turns and turns[-1].role == "bot" else None

    def active_form(self, window: ContextWindow) -> tuple[Form, str] | None:
        """The form whose question the assistant asked last, and the slot it asked for."""
        last = self._last_bot(window)
        return self._asks.get(last) if last is not None else None

    def previous_action(self, window: ContextWindow) -> str | None:
        last = self._last_bot(window)
        if last is None:
            return None
        if last.startswith(self._clarify_prefixes):
            return ASK_REPHRASE
        asked = self._asks.get(last)
        return asked[0].name if asked is not None else self._responses.get(last)

    def _form_texts(self, form: Form, window: ContextWindow) -> list[tuple[str, str | None]]:
        """The customer's turns since ``form`` began (oldest first), with their languages."""
        texts: list[tuple[str, str | None]] = []
        turns = window.turns
        i = len(turns) - 1
        while (
            i >= 1 and turns[i].role == "bot" and self._asks.get(turns[i].text, (None,))[0] is form
        ):
            if turns[i - 1].role == "user":
                texts.append((turns[i - 1].text, window.language))
            i -= 2
        return list(reversed(texts))

    def _slots(
        self, form: Form, texts: Sequence[tuple[str, str | None]], language: str
    ) -> dict[str, Entity]:
        filled: dict[str, Entity] = {}
        for text, lang in texts:
            found = self.extractor.extract(text, lang or language)
            for slot, entity in slots_for(found, form.intent, self.domain, form.required).items():
                if slot in form.required:
                    filled[slot] = entity
        return filled

    # -- the policy -----------------------------------------------------------------------

    def follow(self, text: str, u: Understanding, window: ContextWindow) -> Understanding:
        """``u`` as the active form's intent when ``text`` fills the slot it asked for."""
        state = self.active_form(window)
        if state is None:
            return u
        form, slot = state
        found = self.extractor.extract(text, self.language(u))
        if slot in slots_for(found, form.intent, self.domain, [slot]):
            # A short answer ("Payoneer", "marzo") says little about its language: the
            # conversation keeps the one it had.
            short = len(text.split()) <= SHORT_ANSWER_WORDS
            language = window.language if short and window.language else u.language
            return replace(
                u,
                intent=form.intent,
                out_of_scope=False,
                language=language,
                confidence=max(u.confidence, FORM_CONFIDENCE),
            )
        return u

    def _intent(self, u: Understanding) -> str:
        sure = not u.out_of_scope and u.confidence >= INTENT_CONFIDENCE
        return u.intent if sure and u.intent in self.domain.intents else OUT_OF_SCOPE

    def action(self, u: Understanding, window: ContextWindow) -> str:
        """The active form when the message continues it (or, once, when the assistant cannot
        place the answer: the question is asked again), else the rule's action."""
        state = self.active_form(window)
        if state is not None:
            form = state[0]
            if u.intent == form.intent:
                return form.name
            unplaced = self._intent(u) == OUT_OF_SCOPE
            if unplaced and len(self._form_texts(form, window)) < REASK_LIMIT:
                return form.name
        return self.domain.action_for(self._intent(u), self.previous_action(window))

    def search(self, text: str, language: str) -> list[KbHit]:
        if self.kb is None:
            return []
        return self.kb.search(text, language, self.encoder, k=3)

    def respond(self, text: str, u: Understanding, window: ContextWindow) -> Decision:
        lang = self.language(u)
        action = self.action(u, window)
        if action == "handoff":
            return Decision(handoff_message(lang), "handoff", action)
        form = self.domain.forms.get(action)
        if form is not None:
            texts = (
                [*self._form_texts(form, window), (text, lang)]
                if self.active_form(window)
                else [(text, lang)]
            )
            return self._run_form(form, texts, lang)
        intent = self._intent(u)
        hits = (
            tuple(self.search(text, lang)) if action == "answer" or intent == OUT_OF_SCOPE else ()
        )
        best = hits[0] if hits else None
        if action == "answer":
            response = self.domain.responses.get(f"utter_{intent}")
            if best is not None and (
                best.score >= STRONG_SCORE or (response is None and best.score >= ANSWER_SCORE)
            ):
                return self._from_kb(best, hits, lang, action)
            if response is not None:
                return Decision(response[lang], "response", f"utter_{intent}", hits)
            return self._utter(ASK_REPHRASE, lang, "fallback")
        if intent == OUT_OF_SCOPE and best is not None:
            if best.score >= ANSWER_SCORE:
                return self._from_kb(best, hits, lang, "answer")
            if best.score >= ASK_SCORE and self.previous_action(window) != ASK_REPHRASE:
                title = best.passage.title or best.passage.source
                return Decision(CLARIFY[lang].format(title=title), "clarify", ASK_REPHRASE, hits)
        source = "fallback" if action == ASK_REPHRASE else "response"
        return self._utter(action, lang, source)

    def fallback(self, u: Understanding) -> str:
        """The ask-to-rephrase line, for a reply that failed the safety checks."""
        return self._utter(ASK_REPHRASE, self.language(u), "fallback").text

    def _utter(self, name: str, lang: str, source: str) -> Decision:
        texts = self.domain.responses.get(name) or self.domain.responses[ASK_REPHRASE]
        return Decision(texts[lang], source, name)

    def _from_kb(self, best: KbHit, hits: tuple[KbHit, ...], lang: str, action: str) -> Decision:
        text = f"{best.passage.text}\n\n{SOURCE_WORD[lang]}: {best.passage.citation}"
        return Decision(text, "kb", action, hits)

    def _run_form(self, form: Form, texts: Sequence[tuple[str, str | None]], lang: str) -> Decision:
        filled = self._slots(form, texts, lang)
        values = {slot: entity.text for slot, entity in filled.items()}
        for slot in form.required:
            if slot not in filled:
                return Decision(form.ask[slot][lang], "form", form.name, slots=values)
        template = self.domain.responses[form.done][lang]
        reply = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
        return Decision(reply, "form", form.done, slots=values)
