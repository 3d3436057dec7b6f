"""The ``LLM`` port: one method, any provider."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ssmas.core.llm.messages import ChatMessage, Completion, ToolSpec


@runtime_checkable
class LLM(Protocol):
    """Answers a conversation with text and/or tool calls.

    Contract: ``complete`` either returns a ``Completion`` or raises an ``LLMError`` subclass; it
    never returns partial garbage. ``model=None`` means the provider's configured default.
    """

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec] | None = None,
        model: str | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> Completion: ...
