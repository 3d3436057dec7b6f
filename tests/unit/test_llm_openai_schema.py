"""OpenAI schema mapping and response parsing, without any I/O (retry timing: test_retry)."""

from __future__ import annotations

import json

import pytest

from ssmas.core.llm import (
    ChatMessage,
    LLMBadResponse,
    OfflineLLM,
    OpenAICompatibleLLM,
    ToolCall,
    ToolSpec,
    llm_from_settings,
)
from ssmas.core.llm.openai_schema import build_request, parse_completion
from ssmas.settings import Settings


def test_request_carries_tools_and_tool_turns() -> None:
    messages = [
        ChatMessage(role="user", content="pause 7"),
        ChatMessage(
            role="assistant", tool_calls=[ToolCall(id="c1", name="pause", arguments={"id": 7})]
        ),
        ChatMessage(role="tool", tool_call_id="c1", name="pause", content="ok"),
    ]
    body = build_request(
        messages, model="m", tools=[ToolSpec(name="pause")], max_tokens=64, temperature=0.2
    )
    assert body["model"] == "m" and body["max_tokens"] == 64 and body["temperature"] == 0.2
    assert body["tools"][0]["type"] == "function"
    assert body["tools"][0]["function"]["name"] == "pause"
    call = body["messages"][1]["tool_calls"][0]
    assert call["function"]["name"] == "pause"
    assert json.loads(call["function"]["arguments"]) == {"id": 7}
    assert body["messages"][2]["tool_call_id"] == "c1"


def test_request_without_tools_has_no_tools_key() -> None:
    body = build_request([], model="m", tools=None, max_tokens=1, temperature=0)
    assert "tools" not in body


def _body(message: dict[str, object], **extra: object) -> dict[str, object]:
    return {"model": "served", "choices": [{"message": message, "finish_reason": "stop"}], **extra}


def test_parse_text_and_tool_calls() -> None:
    raw = _body(
        {
            "content": None,
            "tool_calls": [
                {"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}},
                {"id": "b", "function": {"name": "g", "arguments": ""}},
            ],
        },
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )
    out = parse_completion(raw, requested_model="asked", provider="p")
    assert out.text == ""
    assert [(c.id, c.name, c.arguments) for c in out.tool_calls] == [
        ("a", "f", {"x": 1}),
        ("b", "g", {}),
    ]
    assert out.model == "served" and out.usage.total_tokens == 5 and out.provider == "p"


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"choices": []},
        {"choices": [{"nothing": 1}]},
        _body({"content": 5}),
        _body({"content": "", "tool_calls": {"not": "a list"}}),
        _body({"tool_calls": [{"function": {"name": "f", "arguments": "{broken"}}]}),
        _body({"tool_calls": [{"function": {"name": "f", "arguments": "[1, 2]"}}]}),
        _body({"tool_calls": [{"function": {"arguments": "{}"}}]}),
    ],
)
def test_malformed_bodies_raise_bad_response(raw: object) -> None:
    with pytest.raises(LLMBadResponse):
        parse_completion(raw, requested_model="m", provider="p")


def test_factory_picks_by_settings() -> None:
    assert isinstance(llm_from_settings(Settings(profile="test")), OfflineLLM)
    http = llm_from_settings(Settings(profile="test", llm_base_url="http://127.0.0.1:9/v1"))
    assert isinstance(http, OpenAICompatibleLLM)
    assert http.base_url == "http://127.0.0.1:9/v1"
    http.close()
