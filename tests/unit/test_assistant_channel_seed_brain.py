"""The production brain's glue: the seed's model tiers, LLM deadline and fall back to offline."""

from __future__ import annotations

import time
from typing import Any

from ssmas.assistant.brain import Understanding
from ssmas.assistant.context import ContextWindow
from ssmas.assistant.knowledge import KnowledgeBase
from ssmas.assistant.seed_brain import SeedBrain, complexity, select_model_tier
from ssmas.core.llm import ChatMessage, Completion, LLMUnavailable

U_EN = Understanding("en", "greeting", 0.95)


class FakeLLM:
    def __init__(self, answer: str = "", delay_s: float = 0.0, fail: bool = False) -> None:
        self.answer, self.delay_s, self.fail = answer, delay_s, fail
        self.calls: list[tuple[list[ChatMessage], str | None]] = []

    def complete(self, messages: list[ChatMessage], **kwargs: Any) -> Completion:
        self.calls.append((messages, kwargs.get("model")))
        time.sleep(self.delay_s)
        if self.fail:
            raise LLMUnavailable("down")
        return Completion(text=self.answer, model="m", provider="fake")


def brain(llm: FakeLLM | None) -> SeedBrain:
    tiers = {"complex": "big", "service": "cheap", "balanced": "mid"}
    return SeedBrain(
        nlu=None,  # type: ignore[arg-type]  # understand() is not exercised here
        knowledge=KnowledgeBase.shipped(),
        llm=llm,  # type: ignore[arg-type]
        llm_deadline_s=0.3,
        tier_models=tiers,
    )


def test_model_tiers_follow_the_seed() -> None:
    long_technical = "My integration fails? " * 20
    assert complexity(long_technical) > 0.8
    assert select_model_tier(long_technical, Understanding("en", "passcode_forgotten", 0.9)) == (
        "complex"
    )
    assert select_model_tier("hi", U_EN) == "service"
    oos = Understanding("en", "out_of_scope", 0.2, out_of_scope=True)
    assert select_model_tier("what's the weather", oos) == "balanced"


def test_llm_reply_used_when_valid_with_context_and_model() -> None:
    llm = FakeLLM("Hello! How can I help you with your account today?")
    window = ContextWindow(1, 1, "bot", "en", "user: earlier question")
    assert brain(llm).reply("hello", U_EN, window) == llm.answer
    [(messages, model)] = llm.calls
    assert model == "cheap"
    assert "English" in messages[0].content and "summary" in messages[1].content


def test_llm_timeouts_failures_and_bad_replies_fall_back_to_offline() -> None:
    offline = brain(None).reply("hello", U_EN, ContextWindow(1, 1, "bot"))
    assert offline.startswith("Hi")
    for llm in (
        FakeLLM("late", delay_s=1.0),
        FakeLLM(fail=True),
        FakeLLM("Hola, ¿cómo estás? Estoy aquí para ayudarte con tu cuenta"),  # wrong language
        FakeLLM("Write to me at someone@example.com for help with this"),  # leaks an e-mail
    ):
        assert brain(llm).reply("hello", U_EN, ContextWindow(1, 1, "bot")) == offline
