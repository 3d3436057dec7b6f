"""Inbound limits on the live channel: a flooding customer's messages are all stored but only
those within their bucket answered; a flooded business number gets 429 with Retry-After and
nothing of the refused delivery is kept (Meta delivers it again)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.assistant.events import TOPIC_INBOUND
from ssmas.assistant.tables import ChatMessage
from ssmas.bootstrap import create_app
from ssmas.core.db import UnitOfWork
from ssmas.core.metrics import REGISTRY
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import open_channel, signature, text_delivery
from tests.integration.assistant_fixtures import deliver

FLOOD = "5215500001111"
CALM = "5215500002222"


def limited(scope: str) -> float:
    value = REGISTRY.get_sample_value(
        "ssmas_assistant_inbound_rate_limited_total", {"scope": scope}
    )
    return value or 0.0


def test_a_flooding_sender_is_stored_but_answered_only_within_the_limit(
    settings: Settings,
) -> None:
    before = limited("sender")
    with (
        open_channel(settings, inbound_sender_per_min=0.6, inbound_sender_burst=2) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        for i in range(5):
            deliver(client, text_delivery(FLOOD, f"hola {i}", f"wamid.f{i}"))
        deliver(client, text_delivery(CALM, "hola", "wamid.c0"))
        channel.drain()
        assert len(channel.fake.state.sent_to(FLOOD)) == 2
        assert len(channel.fake.state.sent_to(CALM)) == 1  # another customer is not held up
        with UnitOfWork(channel.platform.session_factory) as uow:
            stored = uow.session.scalar(
                sa.select(sa.func.count())
                .select_from(ChatMessage)
                .where(ChatMessage.direction == "in")
            )
        assert stored == 6  # nothing accepted is lost
    assert limited("sender") - before == 3


def test_a_flooded_business_number_gets_429_and_keeps_nothing_of_it(settings: Settings) -> None:
    before = limited("number")
    with (
        open_channel(settings, inbound_number_per_s=0.01) as channel,  # burst: 1 delivery
        TestClient(create_app(channel.platform)) as client,
    ):
        deliver(client, text_delivery(CALM, "uno", "wamid.n1"))
        body = text_delivery(CALM, "dos", "wamid.n2")
        refused = client.post(
            "/whatsapp/webhook", content=body, headers={"x-hub-signature-256": signature(body)}
        )
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert len(channel.platform.bus.replay(TOPIC_INBOUND)) == 1
    assert limited("number") - before == 1


def test_limits_of_zero_switch_them_off(settings: Settings) -> None:
    with (
        open_channel(settings, inbound_sender_per_min=0, inbound_number_per_s=0) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        for i in range(12):
            deliver(client, text_delivery(FLOOD, f"hola {i}", f"wamid.z{i}"))
        channel.drain()
        assert len(channel.fake.state.sent_to(FLOOD)) == 12
