"""A fake OpenAI ``/chat/completions`` server built on ``HttpSink``.

Unscripted requests get a text completion that echoes the last user message, so a test can check
what the client sent. Helpers build scripted replies: text, tool calls, errors, slow answers.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.webhook_sink import Captured, HttpSink, Reply


def completion_body(
    text: str | None = None,
    tool_calls: list[tuple[str, Any]] | None = None,
    model: str = "fake-model",
) -> dict[str, Any]:
    """A chat completion; tool-call arguments are JSON-encoded unless already a string."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
            for i, (name, args) in enumerate(tool_calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def text_reply(text: str, **kwargs: Any) -> Reply:
    return Reply(200, completion_body(text=text), **kwargs)


def tool_reply(*calls: tuple[str, Any]) -> Reply:
    return Reply(200, completion_body(tool_calls=list(calls)))


def error_reply(status: int, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"message": f"scripted {status}"}}, headers or {})


class FakeOpenAIServer(HttpSink):
    """``with FakeOpenAIServer() as api: OpenAICompatibleLLM(api.url + "/v1", ...)``."""

    def reply(self, request: Captured) -> Reply:
        with self._lock:
            if self._script:
                return self._script.popleft()
        try:
            messages = request.json().get("messages", [])
        except ValueError:
            return error_reply(400)
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        return text_reply(f"echo: {last}")
