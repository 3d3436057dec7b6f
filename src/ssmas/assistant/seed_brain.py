"""The production ``Brain``: the trained NLU, the seed's escalation score, the domain's dialogue
policy (forms, rules, responses, knowledge-base answers with their source; ``dialogue``), and
— when an LLM endpoint is configured — a context-aware prompt grounded on the retrieved
passages, with the seed's model choice, a deadline and a fall back to the offline reply.

Forms and hand-off rules are never left to the LLM: it rewrites only answers (a response of
the domain, or a knowledge-base passage, which it must keep to and cite).

``prepare(items)`` (the optional part of the ``Brain`` port) runs the NLU once for a whole
round: every message's language, intent and sentiment in one vectorised pass
(``NLU.analyse_many``) and its FAQ scores in one product (``KnowledgeBase.prepare``); the
following ``understand`` / ``reply`` calls on those texts read the results instead of computing
them again, and answer exactly what they answer without ``prepare``.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from ssmas.assistant.brain import EscalationCall, Understanding
from ssmas.assistant.context import ContextWindow
from ssmas.assistant.dialogue import Decision, Dialogue
from ssmas.assistant.escalation import score_escalation
from ssmas.assistant.kb import KnowledgeIndex
from ssmas.assistant.knowledge import KnowledgeBase
from ssmas.assistant.nlu import NLU, NluResult, load_nlu
from ssmas.assistant.respond import FALLBACK, check_reply, compose_reply
from ssmas.core.llm import LLM, ChatMessage, LLMError, llm_from_settings
from ssmas.settings import Settings

log = structlog.get_logger(__name__)

LANGUAGE_CONFIDENCE_MIN = 0.6
TECHNICAL_INTENTS = frozenset(
    {"passcode_forgotten", "technical_issue", "integration", "account_access", "ads_txt"}
)
LANGUAGE_NAMES = {"es": "Spanish", "en": "English"}


def complexity(text: str) -> float:
    """0..1: longer messages with more questions and clauses count as more complex."""
    words = len(text.split())
    questions = text.count("?")
    return min(1.0, words / 60 + 0.2 * questions + 0.1 * text.count(","))


def select_model_tier(text: str, understanding: Understanding) -> str:
    """The seed's model selection: complex technical → strongest, service → cheapest, else
    balanced. Tiers map to model names through the LLM provider's configuration."""
    if understanding.intent in TECHNICAL_INTENTS and complexity(text) > 0.8:
        return "complex"
    if not understanding.out_of_scope:
        return "service"
    return "balanced"


@dataclass
class SeedBrain:
    """NLU + escalation + replies; ``llm`` is optional and never on the critical path."""

    nlu: NLU
    knowledge: KnowledgeBase
    llm: LLM | None = None
    llm_deadline_s: float = 3.0
    tier_models: dict[str, str] | None = None
    kb: KnowledgeIndex | None = None
    _prepared: dict[tuple[str, str | None], Understanding] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm")
        bundle = getattr(self.nlu, "bundle", None)
        self.dialogue: Dialogue | None = None
        if bundle is not None:
            encoder = getattr(self.nlu, "encoder", None)
            self.dialogue = Dialogue(bundle.domain, bundle.entities, self.kb, encoder)

    def close(self) -> None:
        """Let go of the LLM threads (a reload replaced this brain); calls in flight finish."""
        self._pool.shutdown(wait=False)

    def prepare(self, items: Sequence[tuple[str, str | None]]) -> None:
        """Understand a round of ``(text, language hint)`` pairs at once (see the module doc);
        replaces what the previous round prepared."""
        pairs = list(dict.fromkeys((text, hint) for text, hint in items))
        if not pairs:
            self._prepared = {}
            return
        texts = [text for text, _ in pairs]
        detected = self.nlu.detect_languages(texts)
        languages = [
            _chosen_language(language, confidence, hint)
            for (language, confidence), (_, hint) in zip(detected, pairs, strict=True)
        ]
        results = self.nlu.analyse_many(texts, languages)
        self._prepared = {
            pair: _understanding(result) for pair, result in zip(pairs, results, strict=True)
        }
        if self.dialogue is not None:  # replies come from the dialogue policy, not the FAQ
            self.dialogue.prefetch([(pair[0], self._prepared[pair]) for pair in pairs])
            return
        by_language: dict[str, list[str]] = {}
        for text, result in zip(texts, results, strict=True):
            by_language.setdefault(_reply_language(result.language), []).append(text)
        self.knowledge.clear_prepared()
        for language, group in by_language.items():
            self.knowledge.prepare(group, language)

    def understand(self, text: str, hint_language: str | None) -> Understanding:
        prepared = self._prepared.get((text, hint_language))
        if prepared is not None:
            return prepared
        result = self.nlu.analyse(text)
        if hint_language and result.language_confidence < LANGUAGE_CONFIDENCE_MIN:
            result = self.nlu.analyse(text, language=hint_language)
        return _understanding(result)

    def follow(self, text: str, u: Understanding, window: ContextWindow) -> Understanding:
        """``u`` read in the conversation (an answer to a form's question); see ``dialogue``."""
        return u if self.dialogue is None else self.dialogue.follow(text, u, window)

    def judge(self, text: str, u: Understanding, window: ContextWindow) -> EscalationCall:
        history = [t.text for t in window.turns if t.role == "user"]
        decision = score_escalation(
            text,
            context_length=window.length,
            ai_confidence=u.confidence,
            sentiment=u.sentiment,
            negative_score=u.negative_score,
            intent=u.intent,
            history=history,
        )
        call = EscalationCall(
            decision.escalate,
            decision.score,
            list(decision.reasons),
            decision.priority,
            decision.department,
        )
        if (
            not call.escalate
            and self.dialogue is not None
            and self.dialogue.action(u, window) == "handoff"
        ):
            reason = "Domain rule: hand off to a person"
            priority = "medium" if call.priority == "low" else call.priority
            return EscalationCall(
                True, call.score, [*call.reasons, reason], priority, call.department
            )
        return call

    def decide(self, text: str, u: Understanding, window: ContextWindow) -> Decision | None:
        """The dialogue policy's decision (``None`` for a brain without a domain)."""
        return None if self.dialogue is None else self.dialogue.respond(text, u, window)

    def reply(self, text: str, u: Understanding, window: ContextWindow) -> str:
        decision = self.decide(text, u, window)
        if decision is None or self.dialogue is None:
            offline = compose_reply(text, nlu_result(u), self.knowledge).text
        else:
            offline = decision.text
            if check_reply(offline, u.language if u.language in FALLBACK else "es"):
                offline = self.dialogue.fallback(u)
            if decision.source not in ("kb", "response"):
                return offline  # forms, clarifications, hand-offs: never rewritten
        if self.llm is None:
            return offline
        future = self._pool.submit(self._llm_reply, text, u, window, offline, decision)
        try:
            answer = future.result(timeout=self.llm_deadline_s)
        except concurrent.futures.TimeoutError:
            log.info("llm_reply_timeout", deadline_s=self.llm_deadline_s)
            return offline
        except LLMError as exc:
            log.info("llm_reply_failed", error=type(exc).__name__)
            return offline
        if not answer or check_reply(answer, u.language):
            return offline
        return answer

    def _llm_reply(
        self,
        text: str,
        u: Understanding,
        window: ContextWindow,
        draft: str,
        decision: Decision | None = None,
    ) -> str:
        assert self.llm is not None
        language = LANGUAGE_NAMES.get(u.language, "Spanish")
        system = (
            "You are the customer-service assistant of an ad-tech platform on WhatsApp. "
            f"Answer in {language}, in at most three short sentences, without asking for or "
            "repeating personal data. If unsure, say a person from the team will help.\n"
            f"Detected intent: {u.intent} (confidence {u.confidence:.2f}).\n"
            f"A vetted answer you may adapt: {draft}"
        )
        if decision is not None and decision.hits:
            passages = "\n".join(
                f"[{n}] ({hit.passage.citation}) {hit.passage.text}"
                for n, hit in enumerate(decision.hits, 1)
            )
            system += (
                "\nAnswer only from these passages of the team's knowledge base; if they do "
                "not answer the question, say a person from the team will help. End with "
                "the source you used, as 'Source: <the text in brackets>' in the answer's "
                f"language.\n{passages}"
            )
        messages = [ChatMessage(role="system", content=system)]
        if window.summary:
            messages.append(
                ChatMessage(
                    role="system", content=f"Previous conversation summary:\n{window.summary}"
                )
            )
        for turn in window.turns:
            role = "user" if turn.role == "user" else "assistant"
            messages.append(ChatMessage(role=role, content=turn.text))
        messages.append(ChatMessage(role="user", content=text))
        tier = select_model_tier(text, u)
        model = (self.tier_models or {}).get(tier)
        return self.llm.complete(
            messages, model=model, max_tokens=300, temperature=0.2
        ).text.strip()


def _chosen_language(language: str, confidence: float, hint: str | None) -> str:
    """``understand``'s rule: the hint wins over an unsure detection (compared rounded, as
    ``NluResult.language_confidence`` is)."""
    if hint and round(confidence, 4) < LANGUAGE_CONFIDENCE_MIN:
        return hint
    return language


def _reply_language(language: str) -> str:
    """The language ``compose_reply`` searches the FAQ in."""
    return language if language in FALLBACK else "es"


def _understanding(result: NluResult) -> Understanding:
    return Understanding(
        language=result.language,
        intent=result.intent,
        confidence=result.intent_confidence,
        sentiment=result.sentiment,
        sentiment_score=result.sentiment_score,
        negative_score=result.negative_score,
        out_of_scope=result.out_of_scope,
        entities=result.entities,
    )


def nlu_result(u: Understanding) -> NluResult:
    """The ``NluResult`` that ``compose_reply`` takes, from the pipeline's ``Understanding``."""
    return NluResult(
        language=u.language,
        intent=u.intent,
        intent_confidence=u.confidence,
        out_of_scope=u.out_of_scope,
        sentiment=u.sentiment,
        sentiment_score=u.sentiment_score,
        negative_score=u.negative_score,
        entities=u.entities,
    )


def brain_from_settings(
    settings: Settings, *, nlu: NLU | None = None, kb: KnowledgeIndex | None = None
) -> SeedBrain:
    """The trained NLU (trained on first use, as ``ssmas assistant train`` trains it), the
    team's knowledge base (``kb load``; the shipped FAQ until then), and the LLM if
    configured; ``nlu`` / ``kb`` given are used instead (a reload swaps one of them)."""
    from ssmas.assistant.kb import knowledge_index

    llm = llm_from_settings(settings, max_retries=0) if settings.llm_base_url else None
    nlu = nlu if nlu is not None else load_nlu(settings)
    if kb is None:
        kb = knowledge_index(settings, encoder=getattr(nlu, "encoder", None))
    return SeedBrain(nlu, KnowledgeBase.shipped(), llm=llm, kb=kb)
