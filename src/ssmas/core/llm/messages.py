"""Provider-neutral chat types: what goes into an LLM and what comes back.

These mirror the OpenAI chat schema closely enough to map one to one, but carry no provider detail;
tool-call arguments are always a parsed ``dict``, never a JSON string.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(BaseModel):
    """A request from the model to run one tool with the given arguments."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str = ""


class ChatMessage(BaseModel):
    """One turn of a conversation; ``tool`` turns answer the call named by ``tool_call_id``."""

    role: Role
    content: str = ""
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)


class ToolSpec(BaseModel):
    """A tool the model may call; ``parameters`` is a JSON Schema object for its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Usage(BaseModel):
    """Token counts as reported by the provider (estimated by the offline provider)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Completion(BaseModel):
    """The model's answer: free text, tool calls, or both."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    model: str
    usage: Usage = Field(default_factory=Usage)
    provider: str
    finish_reason: str | None = None


class LLMError(Exception):
    """Base class for every failure of an LLM provider."""


class LLMTimeout(LLMError):
    """The provider did not answer within the per-request timeout, after all retries."""


class LLMUnavailable(LLMError):
    """The provider could not be reached or kept failing (429/5xx), after all retries."""


class LLMBadResponse(LLMError):
    """The provider answered with something that is not a valid chat completion."""


class LLMRejected(LLMError):
    """The provider refused the request (4xx other than 429); retrying would not help."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
