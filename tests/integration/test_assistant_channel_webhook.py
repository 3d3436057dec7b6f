"""The real webhook over the real app: verification, signatures, bad bodies, durable acceptance."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from ssmas.assistant.events import (
    TOPIC_INBOUND,
    TOPIC_MEDIA,
    TOPIC_STATUS,
    TOPIC_TEXT,
    seal_bytes,
    unseal_bytes,
)
from ssmas.assistant.runtime import channel_cipher
from ssmas.bootstrap import create_app
from ssmas.core.bus import dlq_topic
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import (
    SAMPLES,
    Channel,
    sample_bytes,
    signature,
)

SAMPLE_FILES = sorted(
    p.name for p in SAMPLES.glob("[01]*.json") if p.name != "00_verify_handshake.json"
)
URL = "/whatsapp/webhook"


@pytest.fixture(params=[True, False], ids=["lean", "fastapi"])
def client(channel: Channel, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """The webhook is a public lean route (``ssmas.core.api.lean``): every test here runs on
    the exact-path dispatch and on FastAPI's routing (``lean=False``), which must agree."""
    with TestClient(create_app(channel.platform, lean=request.param)) as test_client:
        yield test_client


def post(client: TestClient, body: bytes, sig: str | None = "auto") -> httpx.Response:
    """Not the shared ``deliver``: these tests send missing and wrong signatures and check
    the refusals, so the response is returned rather than required to be 200."""
    headers = {"content-type": "application/json"}
    if sig == "auto":
        headers["x-hub-signature-256"] = signature(body)
    elif sig is not None:
        headers["x-hub-signature-256"] = sig
    return client.post(URL, content=body, headers=headers)


def test_verification_handshake_echoes_challenge(client: TestClient) -> None:
    case = json.loads(sample_bytes("00_verify_handshake.json"))
    response = client.get(URL, params=case["request"]["query"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == case["expected_response"]["body"]


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "my-verify-token", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
def test_verification_refused(client: TestClient, query: dict[str, str]) -> None:
    response = client.get(URL, params=query)
    assert response.status_code == 403
    assert response.json()["error"] == "verification_failed"


def test_every_sample_is_accepted_with_the_published_signature(
    client: TestClient, channel: Channel
) -> None:
    published = json.loads(sample_bytes("signatures.json"))["signatures"]
    for name in SAMPLE_FILES:
        response = post(client, sample_bytes(name), published[name])
        assert response.status_code == 200, (name, response.text)
    stored = channel.platform.bus.replay(TOPIC_INBOUND)
    assert len(stored) == len(SAMPLE_FILES)
    cipher = channel_cipher(channel.platform)
    assert {unseal_bytes(cipher, m.payload) for m in stored} == {
        sample_bytes(n) for n in SAMPLE_FILES
    }
    # nothing personal is readable on the bus
    assert all("5215512345678" not in json.dumps(m.payload) for m in stored)


def test_router_splits_every_sample_into_its_queue(client: TestClient, channel: Channel) -> None:
    for name in SAMPLE_FILES:
        assert post(client, sample_bytes(name)).status_code == 200
    subs_topics = {TOPIC_TEXT, TOPIC_MEDIA, TOPIC_STATUS}
    from ssmas.assistant.ingest import Router

    router = Router(channel.platform.bus, channel_cipher(channel.platform))
    for message in channel.platform.bus.replay(TOPIC_INBOUND):
        router.route(message.payload)
    counts = {t: len(channel.platform.bus.replay(t)) for t in subs_topics}
    # texts: 01, 02 (two), 06 location, 07 button, 08 list, 09 reaction, 10 unsupported
    assert counts == {TOPIC_TEXT: 8, TOPIC_MEDIA: 3, TOPIC_STATUS: 4}
    assert channel.platform.bus.replay(dlq_topic(TOPIC_INBOUND)) == []


@pytest.mark.parametrize(
    "sig",
    [
        None,  # missing
        "sha256=" + "0" * 64,  # forged
        signature(b"another body"),  # valid for a different body (replayed header)
        "sha1=abcdef",  # wrong scheme
    ],
)
def test_bad_signatures_are_refused_and_nothing_stored(
    client: TestClient, channel: Channel, sig: str | None
) -> None:
    response = post(client, sample_bytes("01_text_es_complaint.json"), sig)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_signature"
    assert channel.platform.bus.replay(TOPIC_INBOUND) == []


def test_stale_secret_signature_is_refused(client: TestClient) -> None:
    body = sample_bytes("01_text_es_complaint.json")
    response = post(client, body, signature(body, secret="rotated_out_secret"))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe{not utf-8", "not_utf8"),
        (b'{"object": "whatsapp_business_account", "entry": [', "malformed_json"),
        (b'{"object": "page", "entry": []}', "invalid_payload"),
        (b"[1, 2, 3]", "invalid_payload"),
    ],
)
def test_signed_but_unusable_bodies_are_dead_lettered_with_400(
    client: TestClient, channel: Channel, body: bytes, code: str
) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == code
    dead = channel.platform.bus.replay(dlq_topic(TOPIC_INBOUND))
    assert len(dead) == 1 and dead[0].headers["dlq-error"] == code
    assert unseal_bytes(channel_cipher(channel.platform), dead[0].payload) == body


def test_huge_body_is_413(client: TestClient, channel: Channel) -> None:
    body = b'{"object": "whatsapp_business_account", "entry": [], "pad": "' + b"x" * 300_000 + b'"}'
    response = post(client, body)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_the_same_delivery_twice_is_stored_once(client: TestClient, channel: Channel) -> None:
    body = sample_bytes("02_text_en_batch_two_messages.json")
    first = post(client, body)
    second = post(client, body)
    assert first.status_code == second.status_code == 200
    assert first.json()["delivery"] == second.json()["delivery"]
    assert len(channel.platform.bus.replay(TOPIC_INBOUND)) == 1


def test_unknown_message_type_is_accepted_then_dead_lettered(
    client: TestClient, channel: Channel
) -> None:
    data = json.loads(sample_bytes("01_text_es_complaint.json"))
    message = data["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "hologram"
    message["id"] = "wamid.hologram"
    message["timestamp"] = str(int(time.time()))  # inside the 24-hour window
    body = json.dumps(data).encode()
    assert post(client, body).status_code == 200
    channel.drain()
    dead = channel.platform.bus.replay(dlq_topic(TOPIC_TEXT))
    assert [m.payload["message_id"] for m in dead] == ["wamid.hologram"]
    [reply] = channel.fake.state.sent  # answered with what we can read, in Spanish
    assert reply["body"]["text"]["body"].startswith("Por ahora solo puedo leer")


def test_the_webhook_reads_the_platform_settings_whatsapp_section(settings: Settings) -> None:
    from ssmas.bootstrap import create_app
    from ssmas.core.platform import build_platform

    own = settings.model_copy(
        update={"whatsapp": settings.whatsapp.model_copy(update={"verify_token": "tok-7f3a"})}
    )
    platform = build_platform(own)
    query = {"hub.mode": "subscribe", "hub.challenge": "42"}
    try:
        with TestClient(create_app(platform)) as client:
            accepted = client.get(URL, params={**query, "hub.verify_token": "tok-7f3a"})
            assert (accepted.status_code, accepted.text) == (200, "42")
            default = client.get(URL, params={**query, "hub.verify_token": "my-verify-token"})
            assert default.status_code == 403
    finally:
        platform.close()


def test_a_delivery_with_one_bad_element_answers_the_good_ones(
    client: TestClient, channel: Channel
) -> None:
    data = json.loads(sample_bytes("02_text_en_batch_two_messages.json"))
    value = data["entry"][0]["changes"][0]["value"]
    now = str(int(time.time()))  # inside the 24-hour window
    for message in value["messages"]:
        message["timestamp"] = now
    good_ids = [m["id"] for m in value["messages"]]
    broken = {"from": value["messages"][0]["from"], "timestamp": now, "type": "text"}
    value["messages"].insert(1, broken)  # no id, no text body
    body = json.dumps(data).encode()
    response = post(client, body)
    assert response.status_code == 200
    assert response.json()["rejected"] == 1
    channel.drain()
    dead = channel.platform.bus.replay(dlq_topic(TOPIC_INBOUND))
    assert len(dead) == 1
    assert dead[0].headers["dlq-error"].startswith("entry.0.changes.0.value.messages.1:")
    element = json.loads(unseal_bytes(channel_cipher(channel.platform), dead[0].payload))
    assert element == broken  # the bad element itself, sealed like every delivery
    answered = {s["body"]["context"]["message_id"] for s in channel.fake.state.sent}
    assert answered == set(good_ids)
    # Routing the same delivery again (a redelivery) dead-letters nothing twice.
    channel.platform.bus.publish(TOPIC_INBOUND, seal_bytes(channel_cipher(channel.platform), body))
    channel.drain()
    assert len(channel.platform.bus.replay(dlq_topic(TOPIC_INBOUND))) == 1


def test_the_webhook_is_served_by_the_lean_dispatch(channel: Channel) -> None:
    from ssmas.core.api.lean import collect_lean_routes

    table = collect_lean_routes(create_app(channel.platform).routes)
    assert ("POST", URL) in table
    assert ("GET", URL) not in table  # the handshake stays an ordinary route
