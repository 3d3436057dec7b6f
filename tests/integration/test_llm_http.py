"""OpenAICompatibleLLM against a real local HTTP server scripted like an OpenAI endpoint."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from ssmas.core.llm import (
    LLM,
    ChatMessage,
    LLMBadResponse,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    OpenAICompatibleLLM,
    ToolSpec,
)
from ssmas.core.retry import RetryPolicy
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    completion_body,
    error_reply,
    text_reply,
    tool_reply,
)
from tests.fakes.webhook_sink import Reply

HELLO = [ChatMessage(role="user", content="hello there")]


@pytest.fixture()
def api() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


class Sleeps(list[float]):
    """Records the waits the client asks for instead of sleeping, so tests stay fast."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_llm(
    api: FakeOpenAIServer, sleeps: Sleeps, *, timeout_s: float = 2.0, max_retries: int = 2
) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(
        f"{api.url}/v1/",
        api_key="sk-test",
        model="fake-model",
        timeout_s=timeout_s,
        max_retries=max_retries,
        retry=RetryPolicy(
            max_attempts=max_retries + 1, base_s=0.25, cap_s=1.0, max_retry_after_s=30
        ),
        sleep=sleeps,
        rng=random.Random(0),
    )


def test_text_completion_and_request_shape(api: FakeOpenAIServer) -> None:
    with make_llm(api, Sleeps()) as llm:
        assert isinstance(llm, LLM)
        out = llm.complete(HELLO, max_tokens=32, temperature=0.3)
    assert out.text == "echo: hello there"
    assert out.model == "fake-model" and out.provider == "openai-compatible"
    assert out.usage.total_tokens == 18
    [request] = api.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = request.json()
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert body["max_tokens"] == 32 and body["temperature"] == 0.3 and "tools" not in body


def test_tool_calls_are_parsed(api: FakeOpenAIServer) -> None:
    api.script(tool_reply(("pause_campaign", {"campaign_id": 42}), ("notify", {"to": "ops"})))
    tools = [ToolSpec(name="pause_campaign"), ToolSpec(name="notify")]
    with make_llm(api, Sleeps()) as llm:
        out = llm.complete(HELLO, tools=tools, model="other-model")
    assert [(c.name, c.arguments) for c in out.tool_calls] == [
        ("pause_campaign", {"campaign_id": 42}),
        ("notify", {"to": "ops"}),
    ]
    assert out.finish_reason == "tool_calls"
    body = api.requests[0].json()
    assert body["model"] == "other-model"
    assert [t["function"]["name"] for t in body["tools"]] == ["pause_campaign", "notify"]


def test_server_error_then_success_is_retried(api: FakeOpenAIServer) -> None:
    api.script(error_reply(500), error_reply(503), text_reply("third time"))
    sleeps = Sleeps()
    with make_llm(api, sleeps) as llm:
        assert llm.complete(HELLO).text == "third time"
    assert len(api.requests) == 3
    rng = random.Random(0)  # the same draws as the client's: full jitter under 0.25 s, 0.5 s
    assert sleeps == [rng.uniform(0, 0.25), rng.uniform(0, 0.5)]


def test_429_retry_after_is_honoured(api: FakeOpenAIServer) -> None:
    api.script(error_reply(429, {"Retry-After": "7"}), text_reply("ok"))
    sleeps = Sleeps()
    with make_llm(api, sleeps) as llm:
        assert llm.complete(HELLO).text == "ok"
    assert sleeps == [7.0]


def test_retry_after_beyond_the_limit_gives_up_at_once(api: FakeOpenAIServer) -> None:
    api.script(error_reply(429, {"Retry-After": "3600"}))
    with make_llm(api, Sleeps()) as llm, pytest.raises(LLMUnavailable, match="3600"):
        llm.complete(HELLO)
    assert len(api.requests) == 1


def test_persistent_5xx_ends_unavailable_after_all_retries(api: FakeOpenAIServer) -> None:
    api.script(*[error_reply(502)] * 3)
    sleeps = Sleeps()
    with make_llm(api, sleeps) as llm, pytest.raises(LLMUnavailable, match="502"):
        llm.complete(HELLO)
    assert len(api.requests) == 3 and len(sleeps) == 2


def test_slow_answer_times_out_then_retries(api: FakeOpenAIServer) -> None:
    api.script(Reply(200, {"choices": []}, delay_s=1.0), text_reply("fast now"))
    with make_llm(api, Sleeps(), timeout_s=0.2, max_retries=1) as llm:
        assert llm.complete(HELLO).text == "fast now"
    assert len(api.requests) == 2


def test_always_slow_raises_timeout(api: FakeOpenAIServer) -> None:
    api.script(*[Reply(200, {"choices": []}, delay_s=1.0)] * 2)
    with make_llm(api, Sleeps(), timeout_s=0.2, max_retries=1) as llm, pytest.raises(LLMTimeout):
        llm.complete(HELLO)


def test_client_errors_are_not_retried(api: FakeOpenAIServer) -> None:
    api.script(error_reply(401))
    with make_llm(api, Sleeps()) as llm, pytest.raises(LLMRejected) as info:
        llm.complete(HELLO)
    assert info.value.status_code == 401
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<html>gateway</html>"),
        Reply(200, {"object": "error"}),
        Reply(200, completion_body(tool_calls=[("f", "{not json")])),
        Reply(200, completion_body(tool_calls=[("f", "[1, 2]")])),
    ],
)
def test_malformed_responses_raise_bad_response(api: FakeOpenAIServer, reply: Reply) -> None:
    api.script(reply)
    with make_llm(api, Sleeps()) as llm, pytest.raises(LLMBadResponse):
        llm.complete(HELLO)
    assert len(api.requests) == 1


def test_tool_call_without_arguments_means_no_arguments(api: FakeOpenAIServer) -> None:
    api.script(
        Reply(200, {"choices": [{"message": {"tool_calls": [{"function": {"name": "f"}}]}}]})
    )
    with make_llm(api, Sleeps()) as llm:
        out = llm.complete(HELLO)
    assert [(c.name, c.arguments) for c in out.tool_calls] == [("f", {})]
    assert out.model == "fake-model"


def test_unreachable_server_is_unavailable() -> None:
    with FakeOpenAIServer() as server:
        url = server.url
    llm = OpenAICompatibleLLM(url, timeout_s=1.0, max_retries=1, sleep=Sleeps())
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        llm.complete(HELLO)
    llm.close()
