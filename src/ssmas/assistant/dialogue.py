"""The domain's dialogue policy: forms that ask for missing slots, rules, responses, and answers
from the knowledge base with their source, in the conversation's language.

State lives in the conversation itself (the context window's turns), so any worker answers
any message the same way: a form is active when the assistant's last turn was one of its
questions, and its slots are read again from the customer's turns since the form began.

``follow(text, understanding, window)`` re-reads a message in the light of the conversation:
an active form (a bare "marzo" after "¿De qué mes necesitas la factura?" is the invoice intent
with its month), else a story whose previous exchange is the conversation's last one and whose
follow-up examples the message resembles ("¿y cuándo se paga?" after a question about the
payout threshold is ``payment_status``); ``action(understanding, window)`` is the action
(``handoff`` escalates); ``respond(text, understanding, window)`` writes the reply:

1. an active form whose intent this is: ask the next missing slot, or answer with the slots
   (an answer it cannot place gets the question once more, then the rules decide); an intent
   a ``during`` rule lets interrupt the form gets that rule's action, followed by the form's
   question again (the form resumes);
2. a story's next action, when the story matches the previous exchange and this intent;
3. the rule for the intent (or ``out_of_scope`` when the classifier is unsure; a rule with
   ``after`` first): a response, a form, a hand-off, or ``answer``;
4. ``answer``: a knowledge-base passage scoring at least ``STRONG_SCORE``, else the intent's
   response, else a passage over ``ANSWER_SCORE``;
5. out of scope: a passage over ``ANSWER_SCORE`` is answered with its source; one over
   ``ASK_SCORE`` makes the assistant ask whether that is the topic (it does not guess); below,
   the rule's action (ask to rephrase, and a hand-off when that already happened).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ssmas.assistant.escalation import handoff_message
from ssmas.assistant.nlu.context_intents import ContextIntents
from ssmas.assistant.nlu.domain import OUT_OF_SCOPE, PLACEHOLDER, Domain, Form, Story
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
# A query whose best BM25 score reaches this is ranked on BM25 alone, without MiniLM; chosen
# on the domain's English training examples that reach the knowledge base as the lowest gate
# whose decisions (passage and threshold passed) equal the hybrid search's on at least 99.5 %
# of them (``benchmarks/assistant_cascade.py``); ``None`` always embeds.
KB_BM25_GATE: float | None = 0.6
STORY_MATCH = 0.5  # cosine (character 2-4-grams) of a follow-up to a story's examples
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
        self.kb_gate = KB_BM25_GATE  # the knowledge base's cascade (``KnowledgeIndex.search``)
        self._asks: dict[str, tuple[Form, str]] = {}
        for form in domain.forms.values():
            for slot, by_language in form.ask.items():
                for text in by_language.values():
                    self._asks[text] = (form, slot)
        self._responses = {
            text: name for name, by_lang in domain.responses.items() for text in by_lang.values()
        }
        self._clarify_prefixes = tuple(t.split("{title}")[0] for t in CLARIFY.values())
        self._stories = StoryMatcher(domain.stories)
        self._context = ContextIntents(domain)

    # -- state read from the window -----------------------------------------------------

    def language(self, u: Understanding) -> str:
        return u.language if u.language in self.domain.languages else self.domain.languages[0]

    def _last_bot(self, window: ContextWindow) -> str | None:
        turns = window.turns
        return turns[-1].text if turns and turns[-1].role == "bot" else None

    def _asked(self, text: str) -> tuple[Form, str] | None:
        """The form question ``text`` is, or ends with (a reply that resumed the form)."""
        found = self._asks.get(text)
        if found is not None:
            return found
        for ask, state in self._asks.items():
            if text.endswith(f"\n\n{ask}"):
                return state
        return None

    def active_form(self, window: ContextWindow) -> tuple[Form, str] | None:
        """The form whose question the assistant asked last, and the slot it asked for."""
        last = self._last_bot(window)
        return self._asked(last) if last is not None else None

    def _last_intent(self, window: ContextWindow) -> str | None:
        """The intent of the customer's message the assistant answered last."""
        turns = window.turns
        if len(turns) >= 2 and turns[-1].role == "bot" and turns[-2].role == "user":
            return turns[-2].intent
        return None

    def previous_action(self, window: ContextWindow) -> str | None:
        last = self._last_bot(window)
        if last is None:
            return None
        if last.startswith(self._clarify_prefixes):
            return ASK_REPHRASE
        asked = self._asked(last)
        return asked[0].name if asked is not None else self._responses.get(last)

    def _form_texts(self, form: Form, window: ContextWindow) -> list[tuple[str, str | None]]:
        """The customer's turns since ``form`` began (oldest first), with their languages."""
        texts: list[tuple[str, str | None]] = []
        turns = window.turns
        i = len(turns) - 1
        while (
            i >= 1 and turns[i].role == "bot" and (self._asked(turns[i].text) or (None,))[0] is form
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
            return self._in_context(text, u, window)
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

    def expected_context(self, window: ContextWindow) -> set[str]:
        """The context intents (``affirm``, ``deny`` ...) a rule or a story expects now."""
        previous = self.previous_action(window)
        wanted = {
            rule.intent
            for rule in self.domain.rules
            if rule.after is not None and rule.after == previous
        }
        wanted |= self._stories.expected(self._last_intent(window), previous)
        return wanted & set(self.domain.context_intents)

    def context_intent(self, text: str, language: str, expected: set[str]) -> str | None:
        """The context intent of ``expected`` that ``text`` says (``nlu.context_intents``)."""
        return self._context.read(text, language, expected)

    def _in_context(self, text: str, u: Understanding, window: ContextWindow) -> Understanding:
        """``u`` as a context intent a rule or story expects now (a "sí" right after "¿Quieres
        que te pase con una persona?"), else as a story's follow-up intent when the story's
        previous exchange is the conversation's last one and ``text`` resembles its
        follow-up examples."""
        short = len(text.split()) <= SHORT_ANSWER_WORDS
        language = window.language if short and window.language else self.language(u)
        expected = self.expected_context(window)
        found = self.context_intent(text, language, expected) if expected else None
        if found is None:
            found = self._stories.follow_up(
                text, self.language(u), self._last_intent(window), self.previous_action(window)
            )
        if found is None or (found == u.intent and not u.out_of_scope):
            return u
        language = window.language if short and window.language else u.language
        return replace(
            u,
            intent=found,
            out_of_scope=False,
            language=language,
            confidence=max(u.confidence, FORM_CONFIDENCE),
        )

    def interruption(self, u: Understanding, window: ContextWindow) -> tuple[Form, str] | None:
        """The active form and its pending slot, when ``u`` interrupts it by a ``during`` rule
        (answered, then the form asks again)."""
        state = self.active_form(window)
        if state is None or u.intent == state[0].intent:
            return None
        rule = self.domain.interruption(self._intent(u), state[0].name)
        return state if rule is not None else None

    def _intent(self, u: Understanding) -> str:
        sure = not u.out_of_scope and u.confidence >= INTENT_CONFIDENCE
        return u.intent if sure and u.intent in self.domain.intents else OUT_OF_SCOPE

    def action(self, u: Understanding, window: ContextWindow) -> str:
        """The active form when the message continues it (or, once, when the assistant cannot
        place the answer: the question is asked again), else the rule's action."""
        state = self.active_form(window)
        intent = self._intent(u)
        if state is not None:
            form = state[0]
            if u.intent == form.intent:
                return form.name
            unplaced = intent == OUT_OF_SCOPE
            if unplaced and len(self._form_texts(form, window)) < REASK_LIMIT:
                return form.name
            rule = self.domain.interruption(intent, form.name)
            if rule is not None:
                return rule.action
        previous = self.previous_action(window)
        told = self._stories.next_action(intent, self._last_intent(window), previous)
        return told or self.domain.action_for(intent, previous)

    def prefetch(self, items: Sequence[tuple[str, Understanding]]) -> None:
        """Encode in one batch the round's texts the knowledge base will embed (those whose
        intent is answered from it or out of scope, and BM25 is not decisive), so the memo
        encoder serves ``search`` their vectors: a batch costs less a text than one by one.
        A text the conversation then reads otherwise was encoded for nothing, no more."""
        if self.kb is None or self.encoder is None:
            return
        texts = [
            text
            for text, u in items
            if self._searched(u)
            and self.kb.wants_encoding(text, self.language(u), self.encoder, self.kb_gate)
        ]
        if texts:
            self.encoder.encode(list(dict.fromkeys(texts)))

    def _searched(self, u: Understanding) -> bool:
        intent = self._intent(u)
        return intent == OUT_OF_SCOPE or self.domain.action_for(intent, None) == "answer"

    def search(self, text: str, language: str) -> list[KbHit]:
        if self.kb is None:
            return []
        return self.kb.search(text, language, self.encoder, k=3, bm25_gate=self.kb_gate)

    def respond(self, text: str, u: Understanding, window: ContextWindow) -> Decision:
        resume = self.interruption(u, window)
        decision = self._respond(text, u, window)
        if resume is None or decision.source == "handoff":
            return decision
        form, slot = resume  # the form goes on: its question again, after the answer
        question = form.ask[slot][self.language(u)]
        return replace(decision, text=f"{decision.text}\n\n{question}", source="form")

    def _respond(self, text: str, u: Understanding, window: ContextWindow) -> Decision:
        lang = self.language(u)
        action = self.action(u, window)
        if action == "handoff":
            return Decision(handoff_message(lang), "handoff", action)
        form = self.domain.forms.get(action)
        if form is not None:
            active = self.active_form(window)
            texts = (
                [*self._form_texts(form, window), (text, lang)]
                if active is not None and active[0] is form
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


class ExampleMatcher:
    """Nearest example by character 2-4-gram TF-IDF cosine (accents and case folded): how a
    follow-up is matched to a story's examples."""

    def __init__(self, texts: Sequence[str], owners: Sequence[tuple[Any, str]]) -> None:
        self.owners = list(owners)  # (what the example stands for, its language)
        self._vectorizer: Any = None
        self._matrix: Any = None
        if texts:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self._vectorizer = TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 4), strip_accents="unicode", lowercase=True
            )
            self._matrix = self._vectorizer.fit_transform(texts)

    def match(
        self, text: str, language: str, allowed: Any, floor: float = STORY_MATCH
    ) -> Any | None:
        """The owner in ``allowed`` of the example of ``language`` closest to ``text``, if its
        cosine is at least ``floor``."""
        if self._vectorizer is None or not text.strip():
            return None
        scores = (self._matrix @ self._vectorizer.transform([text]).T).toarray().ravel()
        best, found = floor, None
        for row, (owner, lang) in enumerate(self.owners):
            if lang == language and owner in allowed and scores[row] >= best:
                best, found = float(scores[row]), owner
        return found


class StoryMatcher:
    """The domain's stories, matched on the previous exchange: a story applies to a message at
    one of its intent steps (after the first) when the nearest intent step before it is the
    intent of the customer's previous message and, if an action step stands right before it,
    that action is what the assistant did last. Its follow-up ``examples`` are compared with
    the message (``ExampleMatcher``)."""

    def __init__(self, stories: Sequence[Story]) -> None:
        self.points: list[tuple[str, str | None, int, Story]] = []  # (before, action, index)
        texts: list[str] = []
        owners: list[tuple[int, str]] = []  # example row -> (point, language)
        for story in stories:
            steps = story.steps
            for i, step in enumerate(steps):
                if i == 0 or step.intent is None:
                    continue
                before = next((s.intent for s in reversed(steps[:i]) if s.intent is not None), None)
                if before is None:
                    continue
                point = len(self.points)
                self.points.append((before, steps[i - 1].action, i, story))
                for language, examples in step.examples.items():
                    for example in examples:
                        texts.append(example)
                        owners.append((point, language))
        self._examples = ExampleMatcher(texts, owners)

    def _matching(self, last_intent: str | None, previous: str | None) -> list[int]:
        return [
            n
            for n, (before, between, _, _) in enumerate(self.points)
            if before == last_intent and (between is None or between == previous)
        ]

    def expected(self, last_intent: str | None, previous: str | None) -> set[str]:
        """The intents of the story steps that may come now."""
        found = set()
        for n in self._matching(last_intent, previous):
            intent = self.points[n][3].steps[self.points[n][2]].intent
            if intent is not None:
                found.add(intent)
        return found

    def follow_up(
        self, text: str, language: str, last_intent: str | None, previous: str | None
    ) -> str | None:
        """The intent of the story step ``text`` resembles most (at least ``STORY_MATCH``)."""
        points = set(self._matching(last_intent, previous))
        if not points:
            return None
        point = self._examples.match(text, language, points)
        if point is None:
            return None
        _, _, index, story = self.points[int(point)]
        return story.steps[index].intent

    def next_action(self, intent: str, last_intent: str | None, previous: str | None) -> str | None:
        """The action right after ``intent`` in a story matching the previous exchange."""
        for n in self._matching(last_intent, previous):
            _, _, index, story = self.points[n]
            steps = story.steps
            if steps[index].intent == intent and index + 1 < len(steps):
                return steps[index + 1].action
        return None
