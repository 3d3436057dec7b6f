"""The LLM port: provider-neutral chat types, an offline provider and an OpenAI-compatible one.

Pick one with ``llm_from_settings``; code against the ``LLM`` protocol.
"""

from __future__ import annotations

from ssmas.core.llm.factory import llm_from_settings
from ssmas.core.llm.messages import (
    ChatMessage,
    Completion,
    LLMBadResponse,
    LLMError,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    ToolCall,
    ToolSpec,
    Usage,
)
from ssmas.core.llm.offline import OfflineLLM
from ssmas.core.llm.openai_http import OpenAICompatibleLLM
from ssmas.core.llm.protocol import LLM

__all__ = [
    "LLM",
    "ChatMessage",
    "Completion",
    "LLMBadResponse",
    "LLMError",
    "LLMRejected",
    "LLMTimeout",
    "LLMUnavailable",
    "OfflineLLM",
    "OpenAICompatibleLLM",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "llm_from_settings",
]
