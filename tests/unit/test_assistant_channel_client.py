"""The send client against an in-memory transport: payload shapes, retries, error codes, pacing."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ssmas.assistant.whatsapp.client import (
    GraphClient,
    GraphError,
    Pacer,
    PairRateLimited,
    WindowClosed,
)
from ssmas.settings import WhatsAppSettings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "whatsapp"
SEED = 11
SEND = json.loads((SAMPLES / "20_send_text_request_response.json").read_text())


def graph_error(code: int, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": f"(#{code})", "code": code}})


def ok() -> httpx.Response:
    return httpx.Response(200, json=SEND["response_200"])


class Script:
    """Answers requests from a list of responses and records what was asked."""

    def __init__(self, *answers: httpx.Response | Callable[[], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        return answer() if callable(answer) else answer

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def client_for(script: Script, sleeps: list[float] | None = None, **overrides: Any) -> GraphClient:
    settings = WhatsAppSettings(
        graph_url="https://graph.example/v23.0", access_token="tok", **overrides
    )
    pauses = sleeps if sleeps is not None else []
    return GraphClient(
        settings,
        transport=httpx.MockTransport(script),
        sleep=pauses.append,
        rng=random.Random(SEED),
    )


def test_text_payload_matches_the_sample_request() -> None:
    script = Script(ok())
    client = client_for(script)
    request = SEND["request"]["body"]
    result = client.send_text(
        request["to"], request["text"]["body"], reply_to=request["context"]["message_id"]
    )
    assert result.wa_id == SEND["response_200"]["messages"][0]["id"]
    assert script.bodies() == [request]
    sent = script.requests[0]
    assert sent.url.path == "/v23.0/106540352242922/messages"
    assert sent.headers["authorization"] == "Bearer tok"


def test_buttons_and_mark_read_match_the_samples() -> None:
    script = Script(ok(), httpx.Response(200, json={"success": True}))
    client = client_for(script)
    expected = json.loads((SAMPLES / "21_send_interactive_buttons_request.json").read_text())
    client.send_buttons(
        "5215512345678",
        "¿Cómo quieres continuar?",
        [("talk_to_agent", "Hablar con agente"), ("track_order", "Rastrear pedido")],
    )
    read = json.loads((SAMPLES / "22_mark_read_request.json").read_text())
    client.mark_read(read["message_id"])
    assert script.bodies() == [expected, read]


def test_list_and_template_shapes() -> None:
    script = Script(ok(), ok())
    client = client_for(script)
    client.send_list(
        "1", "Pick one", "Options", [("a", "Refund status", "Where is it"), ("b", "Other", None)]
    )
    client.send_template("1", "reengagement", "es", parameters=["María"])
    listing, template = script.bodies()
    rows = listing["interactive"]["action"]["sections"][0]["rows"]
    assert rows == [
        {"id": "a", "title": "Refund status", "description": "Where is it"},
        {"id": "b", "title": "Other"},
    ]
    assert template["template"] == {
        "name": "reengagement",
        "language": {"code": "es"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "María"}]}],
    }
    with pytest.raises(ValueError):
        client.send_buttons("1", "x", [])


def test_callback_data_goes_out_as_biz_opaque_callback_data_on_every_kind() -> None:
    script = Script(ok(), ok(), ok(), ok())
    client = client_for(script)
    client.send_text("1", "hola", callback_data="ssmas-out.1.100")
    client.send_buttons("1", "?", [("a", "A")], callback_data="ssmas-out.2.100")
    client.send_list("1", "?", "Options", [("a", "A", None)], callback_data="ssmas-out.3.100")
    client.send_template("1", "reengagement", "es", callback_data="ssmas-out.4.100")
    tokens = [body.get("biz_opaque_callback_data") for body in script.bodies()]
    assert tokens == [f"ssmas-out.{n}.100" for n in (1, 2, 3, 4)]
    for bad in ("", "x" * 513):  # refused before anything leaves the process
        with pytest.raises(ValueError, match="callback_data"):
            client.send_text("1", "hola", callback_data=bad)
    assert len(script.requests) == 4


def test_server_errors_and_transport_failures_are_retried_with_growing_backoff() -> None:
    def boom() -> httpx.Response:
        raise httpx.ConnectError("refused")

    sleeps: list[float] = []
    script = Script(httpx.Response(500, text="oops"), boom, graph_error(131000, 500), ok())
    client = client_for(script, sleeps, retry_backoff_s=1.0)
    assert client.send_text("1", "hi").wa_id
    assert len(script.requests) == 4
    rng = random.Random(SEED)  # full jitter under 1, 2 and 4 seconds
    assert sleeps == [rng.uniform(0, 1.0), rng.uniform(0, 2.0), rng.uniform(0, 4.0)]


def test_window_closed_is_raised_at_once() -> None:
    script = Script(graph_error(131047))
    with pytest.raises(WindowClosed):
        client_for(script).send_text("1", "hi")
    assert len(script.requests) == 1


def test_pair_rate_limit_backs_off_then_succeeds_or_gives_up() -> None:
    sleeps: list[float] = []
    script = Script(graph_error(131056), ok())
    assert client_for(script, sleeps, pair_limit_backoff_s=2.0).send_text("1", "hi").wa_id
    assert sleeps == [random.Random(SEED).uniform(0, 2.0)]  # its own, longer backoff base
    script = Script(*[graph_error(131056)] * 4)
    with pytest.raises(PairRateLimited) as caught:
        client_for(script).send_text("1", "hi")
    assert caught.value.retryable


def test_client_errors_are_not_retried() -> None:
    script = Script(graph_error(100, 400))
    with pytest.raises(GraphError) as caught:
        client_for(script).send_text("1", "hi")
    assert (caught.value.code, caught.value.retryable, len(script.requests)) == (100, False, 1)


def test_pacer_holds_each_recipient_and_the_number_to_their_rates() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(
        number_rate=80, recipient_rate=1.0, recipient_burst=2, sleep=sleep, clock=lambda: now[0]
    )
    for _ in range(2):
        assert pacer.wait("a") == 0.0
    assert pacer.wait("a") == pytest.approx(1.0)  # third message to one person waits a second
    for i in range(79):  # the number's bucket: 80 a second, shared by every recipient
        pacer.wait(f"r{i}")
    before = now[0]
    pacer.wait("late")
    assert 1 / 80 <= now[0] - before <= 1 / 80 + 0.002


def test_retry_after_is_waited_exactly() -> None:
    sleeps: list[float] = []
    busy = httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"code": 4}})
    assert client_for(Script(busy, ok()), sleeps).send_text("1", "hi").wa_id
    assert sleeps == [3.0]


def test_transport_failures_end_as_a_retryable_graph_error() -> None:
    def boom() -> httpx.Response:
        raise httpx.ConnectError("refused")

    sleeps: list[float] = []
    script = Script(boom, boom)
    with pytest.raises(GraphError) as caught:
        client_for(script, sleeps, send_attempts=2).send_text("1", "hi")
    assert (caught.value.status, caught.value.retryable, len(script.requests)) == (0, True, 2)
    assert len(sleeps) == 1


def test_no_retry_starts_after_the_elapsed_budget() -> None:
    sleeps: list[float] = []
    script = Script(httpx.Response(503, headers={"Retry-After": "5"}), ok())
    with pytest.raises(GraphError) as caught:
        client_for(script, sleeps, retry_max_elapsed_s=4.0).send_text("1", "hi")
    assert caught.value.status == 503 and caught.value.retryable
    assert len(script.requests) == 1 and sleeps == []


def test_media_download_is_retried_then_size_checked() -> None:
    script = Script(httpx.Response(502), httpx.Response(200, content=b"x" * 10))
    client = client_for(script)
    assert client.download("https://lookaside.example/media/1") == b"x" * 10
    script = Script(httpx.Response(200, content=b"x" * 10))
    with pytest.raises(GraphError, match="too large"):
        client_for(script).download("https://lookaside.example/media/1", max_bytes=5)
    script = Script(httpx.Response(404, json={"error": {"message": "gone", "code": 100}}))
    with pytest.raises(GraphError) as caught:
        client_for(script).download("https://lookaside.example/media/1")
    assert (caught.value.status, caught.value.retryable) == (404, False)


def test_pacer_keys_hide_the_phone_number() -> None:
    pacer = Pacer(
        number_rate=80, recipient_rate=1, recipient_burst=1, number_id="42", key_secret=b"k"
    )
    key = pacer.recipient_key("34612345678")
    assert key.startswith("42:to:") and "34612345678" not in key
    assert key == pacer.recipient_key("34612345678") != pacer.recipient_key("34612345679")
    other = Pacer(
        number_rate=80, recipient_rate=1, recipient_burst=1, number_id="42", key_secret=b"j"
    )
    assert other.recipient_key("34612345678") != key
