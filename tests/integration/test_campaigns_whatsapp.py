"""A WhatsApp campaign goes through the assistant: the sender publishes template requests, the
assistant's ``templates`` consumer sends them through the Graph API fake, and the statuses
Meta posts come back to the ledger through ``assistant.status``."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from ssmas.assistant.events import TOPIC_TEMPLATE_SEND, TemplateSendRequest
from ssmas.assistant.template_sends import TemplateSends
from ssmas.assistant.whatsapp.graph_fake import ScriptRule
from ssmas.bootstrap import create_app
from ssmas.campaigns.sending.runtime import sending_runtime
from ssmas.campaigns.sending.sender import TOPIC_WHATSAPP_SEND, LedgerSender, Sender
from ssmas.campaigns.sending.whatsapp import WhatsAppReader
from ssmas.core.worker import Subscription, WorkerStats, drain_once
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import Channel
from tests.integration.assistant_fixtures import deliver
from tests.integration.campaigns_sending_support import Clock, recipients, send_all


def test_the_topic_and_request_are_the_assistants() -> None:
    assert TOPIC_WHATSAPP_SEND == TOPIC_TEMPLATE_SEND


def test_a_whatsapp_campaign_is_sent_by_the_assistant_once_and_its_statuses_recorded(
    channel: Channel, settings: Settings
) -> None:
    platform = channel.platform
    runtime = sending_runtime(platform)
    runtime.clock = Clock()
    people = recipients(3)
    port = LedgerSender(runtime)
    port.enqueue(5, 1, "whatsapp", "Hola {nombre}, oferta", people)
    send_all(runtime)
    assert port.counts(5, 1)["sent"] == 3
    channel.drain()
    sent = channel.fake.state.sent
    assert len(sent) == 3
    first = next(s for s in sent if s["to"] == people[0].e164.lstrip("+"))
    template = first["body"]["template"]
    assert template["name"] == "campaign_message"
    assert template["components"][0]["parameters"][0]["text"] == "Hola Cliente 1, oferta"
    assert first["body"]["biz_opaque_callback_data"] == "t5-c1-l1"
    # The bus delivers a request again (the consumer died before acking): nothing is resent.
    deliveries = platform.bus.consume(TOPIC_TEMPLATE_SEND, "replay", "test", max_messages=10)
    again = TemplateSends(channel.runtime)
    for delivery in deliveries:
        TemplateSendRequest.model_validate(
            json.loads(runtime.cipher.decrypt(delivery.message.payload["sealed"]))
        )
        again.handle(delivery)
    assert again.sent == 0 and len(channel.fake.state.sent) == 3
    # Meta reports the first delivered and read, the second failed.
    with TestClient(create_app(platform)) as client:
        for wa_id, status, code in (
            (first["wa_id"], "delivered", None),
            (first["wa_id"], "read", None),
            (sent[1]["wa_id"] if sent[1] is not first else sent[2]["wa_id"], "failed", 131026),
        ):
            body = channel.fake.state.status_delivery(wa_id, status, error_code=code)
            deliver(client, json.dumps(body).encode())
    channel.drain()
    reader = WhatsAppReader(runtime)
    stats = WorkerStats()
    while drain_once(platform.bus, reader.subscriptions(), "test", stats):
        pass
    assert stats.failed == 0 and reader.receipts == 3
    counts = port.counts(5, 1)
    assert counts["delivered"] == 1 and counts["failed"] == 1 and counts["sent"] == 3


def test_a_failing_template_send_is_retried_or_dropped_by_the_graph_apis_verdict(
    channel: Channel,
) -> None:
    platform = channel.platform
    runtime = sending_runtime(platform)
    runtime.clock = Clock()
    people = recipients(2)
    flaky, unknown = (p.e164.lstrip("+") for p in people)
    channel.fake.state.script(ScriptRule(code=500, times=50, to=flaky))
    channel.fake.state.script(ScriptRule(code=132001, to=unknown))  # template does not exist
    LedgerSender(runtime).enqueue(5, 2, "whatsapp", "Hola {nombre}", people)
    sender = Sender(runtime)
    try:
        sender.run_once()
    finally:
        sender.close()
    handler = TemplateSends(channel.runtime)
    stats = WorkerStats()
    subscription = Subscription(TOPIC_TEMPLATE_SEND, "assistant-templates", handler.handle, 20, 0.1)
    drain_once(platform.bus, [subscription], "test", stats)
    assert stats.failed == 1 and stats.handled == 1  # the 5xx goes back, the unknown is dropped
    assert channel.fake.state.sent == []
    channel.fake.state.rules.clear()
    drain_once(platform.bus, [subscription], "test", stats)
    assert [s["to"] for s in channel.fake.state.sent] == [flaky]
