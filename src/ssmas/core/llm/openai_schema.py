"""Translation between our chat types and the OpenAI ``/chat/completions`` JSON schema."""

from __future__ import annotations

import json
from typing import Any

from ssmas.core.llm.messages import (
    ChatMessage,
    Completion,
    LLMBadResponse,
    ToolCall,
    ToolSpec,
    Usage,
)


def to_openai_message(message: ChatMessage) -> dict[str, Any]:
    """One message in OpenAI's shape; assistant tool calls carry JSON-encoded arguments."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name:
        out["name"] = message.name
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return out


def to_openai_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def build_request(
    messages: list[ChatMessage],
    *,
    model: str,
    tools: list[ToolSpec] | None,
    max_tokens: int,
    temperature: float,
) -> dict[str, Any]:
    """The request body for ``POST /chat/completions``."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [to_openai_message(m) for m in messages],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if tools:
        body["tools"] = [to_openai_tool(t) for t in tools]
    return body


def _parse_tool_call(raw: Any) -> ToolCall:
    if not isinstance(raw, dict) or not isinstance(raw.get("function"), dict):
        raise LLMBadResponse("tool call without a 'function' object")
    function = raw["function"]
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise LLMBadResponse("tool call without a function name")
    arguments = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise LLMBadResponse(f"tool call {name!r} has arguments that are not JSON: {exc}")
    if not isinstance(arguments, dict):
        raise LLMBadResponse(f"tool call {name!r} arguments are not a JSON object")
    return ToolCall(id=str(raw.get("id") or ""), name=name, arguments=arguments)


def _parse_usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    values = {k: raw.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    return Usage(**{k: int(v) for k, v in values.items() if isinstance(v, int | float)})


def parse_completion(body: Any, *, requested_model: str, provider: str) -> Completion:
    """A ``Completion`` from a response body, or ``LLMBadResponse`` saying what was wrong."""
    if not isinstance(body, dict):
        raise LLMBadResponse("response body is not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise LLMBadResponse("response has no 'choices'")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise LLMBadResponse("first choice has no 'message' object")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise LLMBadResponse("message 'content' is neither text nor null")
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise LLMBadResponse("message 'tool_calls' is not a list")
    model = body.get("model")
    return Completion(
        text=content or "",
        tool_calls=[_parse_tool_call(raw) for raw in raw_calls],
        model=model if isinstance(model, str) and model else requested_model,
        usage=_parse_usage(body.get("usage")),
        provider=provider,
        finish_reason=choice.get("finish_reason"),
    )
