"""Webhook in → queues → text pipeline → reply recorded by the Graph API fake (real HTTP).

Real SQLite database and bus, the real app and workers' handlers; only the brain is scripted.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.assistant.handoff import agent_queue
from ssmas.assistant.tables import ChatMessage, Conversation, DeliveryStatus, Handoff
from ssmas.assistant.whatsapp.graph_fake import ScriptRule
from ssmas.assistant.workers import AssistantHandlers
from ssmas.bootstrap import create_app
from ssmas.core.db import UnitOfWork
from ssmas.core.security import create_api_key, list_audit
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import (
    Channel,
    open_channel,
    sample_bytes,
    sample_clock,
    text_delivery,
)
from tests.integration.assistant_fixtures import deliver

PHONE = "16505550001"


def texts_to(channel: Channel, phone: str) -> list[str]:
    return [
        s["body"]["text"]["body"] for s in channel.fake.state.sent_to(phone) if s["type"] == "text"
    ]


def test_text_gets_one_reply_in_its_language_and_is_marked_read(
    client: TestClient, channel: Channel
) -> None:
    deliver(client, text_delivery(PHONE, "Hi, where is my order?", "wamid.a1"))
    channel.drain()
    sent = channel.fake.state.sent_to(PHONE)
    assert len(sent) == 1
    assert sent[0]["body"]["text"]["body"].startswith("[en] answer about order_status")
    assert sent[0]["body"]["context"] == {"message_id": "wamid.a1"}
    assert channel.fake.state.reads == ["wamid.a1"]
    with UnitOfWork(channel.platform.session_factory) as uow:
        rows = uow.session.scalars(sa.select(ChatMessage).order_by(ChatMessage.id)).all()
        assert [(r.direction, r.state) for r in rows] == [("in", "done"), ("out", "sent")]
        assert rows[1].wa_id == sent[0]["wa_id"]
        # bodies and phone numbers are encrypted at rest
        assert "order" not in rows[0].body_enc
        conversation = uow.session.scalars(sa.select(Conversation)).one()
        assert PHONE not in conversation.phone_enc and PHONE not in conversation.phone_index


def test_same_delivery_twice_and_in_another_batch_gives_one_reply(
    client: TestClient, channel: Channel
) -> None:
    body = sample_bytes("02_text_en_batch_two_messages.json")
    deliver(client, body)
    deliver(client, body)
    channel.drain()
    # Meta re-sends one of the messages inside a different delivery
    data = json.loads(body)
    value = data["entry"][0]["changes"][0]["value"]
    value["messages"] = value["messages"][:1]
    deliver(client, json.dumps(data).encode())
    channel.drain()
    sent = channel.fake.state.sent_to("16505551234")
    assert len(sent) == 2  # one reply per WhatsApp message, not per delivery


def test_escalation_queues_a_handoff_notifies_and_silences_the_bot(
    settings: Settings,
) -> None:
    clock = sample_clock("01_text_es_complaint.json")
    with (
        open_channel(settings, clock=clock) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        deliver(client, sample_bytes("01_text_es_complaint.json"))
        channel.drain()
        phone = "5215512345678"
        assert texts_to(channel, phone) == [
            "Te estoy conectando con uno de nuestros especialistas. En breve te contactarán."
        ]
        with UnitOfWork(channel.platform.session_factory) as uow:
            handoff = uow.session.scalars(sa.select(Handoff)).one()
            assert (handoff.priority, handoff.department, handoff.score) == (
                "high",
                "billing",
                85,
            )
            assert handoff.sla_due_at - handoff.opened_at == timedelta(minutes=15)
            state = uow.session.scalars(sa.select(Conversation.state)).one()
            assert state == "handoff"
        assert len(channel.notifier.sent) == 1
        note = channel.notifier.sent[0]
        assert note.fields["priority"] == "high" and phone not in note.model_dump_json()
        # the customer writes again: stored, but the bot says nothing
        follow = text_delivery(
            phone, "¿hola?", "wamid.follow", at=sample_clock("01_text_es_complaint.json")()
        )
        deliver(client, follow)
        channel.drain()
        assert len(channel.fake.state.sent_to(phone)) == 1


def _conversation_of(client: TestClient, channel: Channel, auth: dict[str, str], wa_id: str) -> int:
    """A customer writes; the id of the conversation it opens."""
    deliver(client, text_delivery(PHONE, "where is my order", wa_id))
    channel.drain()
    conv_id: int = client.get("/assistant/conversations", headers=auth).json()[0]["id"]
    return conv_id


def test_agent_takes_over_replies_and_hands_back(client: TestClient, channel: Channel) -> None:
    with UnitOfWork(channel.platform.session_factory) as uow:
        raw, record = create_api_key(
            uow.session, "agent-console", ["assistant:write", "assistant:read"]
        )
        other, _ = create_api_key(uow.session, "other-console", ["assistant:write"])
        reader, _ = create_api_key(uow.session, "reader", ["assistant:read"])
        uow.commit()
    auth = {"x-api-key": raw}
    conv_id = _conversation_of(client, channel, auth, "wamid.b1")
    denied = client.post(
        f"/assistant/conversations/{conv_id}/takeover",
        json={"agent": "eva"},
        headers={"x-api-key": reader},
    )
    assert denied.status_code == 403
    taken = client.post(
        f"/assistant/conversations/{conv_id}/takeover", json={"agent": "eva"}, headers=auth
    )
    owner = f"apikey:{record.prefix}"  # the key acts, whatever name the body gives
    assert taken.json() == {"id": conv_id, "state": "human", "agent": owner}
    deliver(client, text_delivery(PHONE, "hello? anyone?", "wamid.b2"))
    channel.drain()
    assert len(channel.fake.state.sent_to(PHONE)) == 1  # the bot stayed silent
    reply = client.post(
        f"/assistant/conversations/{conv_id}/reply",
        json={"agent": "eva", "text": "Hi, Eva here. Your order ships today."},
        headers=auth,
    )
    assert reply.status_code == 202
    channel.drain()
    assert texts_to(channel, PHONE)[-1] == "Hi, Eva here. Your order ships today."
    # Another key cannot hand it back, even giving the owner's name.
    stolen = client.post(
        f"/assistant/conversations/{conv_id}/handback",
        json={"agent": "eva"},
        headers={"x-api-key": other},
    )
    assert stolen.status_code == 409 and stolen.json()["error"] == "conversation_not_owned"
    back = client.post(
        f"/assistant/conversations/{conv_id}/handback", json={"agent": "eva"}, headers=auth
    )
    assert back.json()["state"] == "bot"
    deliver(client, text_delivery(PHONE, "thanks, one more question", "wamid.b3"))
    channel.drain()
    assert len(channel.fake.state.sent_to(PHONE)) == 3
    detail = client.get(f"/assistant/conversations/{conv_id}", headers=auth).json()
    authors = [m["author"] for m in detail["messages"]]
    assert authors == ["user", "bot", "user", "agent", "user", "bot"]
    unknown = client.get("/assistant/conversations/999", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"] == "conversation_not_found"
    nobody = client.post(
        "/assistant/conversations/999/takeover", json={"agent": "eva"}, headers=auth
    )
    assert nobody.status_code == 404 and nobody.json()["error"] == "conversation_not_found"
    assert client.get("/assistant/handoffs", headers=auth).json() == []


def test_outside_the_24_hour_window_a_template_goes_out(
    client: TestClient, channel: Channel
) -> None:
    old = datetime.now(UTC) - timedelta(days=2)
    deliver(client, text_delivery(PHONE, "where is my order", "wamid.old", at=old))
    channel.drain()
    sent = channel.fake.state.sent_to(PHONE)
    assert [s["type"] for s in sent] == ["template"]
    assert sent[0]["body"]["template"]["name"] == "reengagement"


def test_131047_falls_back_to_template_and_131056_500_are_retried(
    client: TestClient, channel: Channel
) -> None:
    channel.fake.state.script(ScriptRule(code=131047, to=PHONE))
    deliver(client, text_delivery(PHONE, "where is my order", "wamid.c1"))
    channel.drain()
    assert [s["type"] for s in channel.fake.state.sent_to(PHONE)] == ["template"]
    other = "16505550002"
    channel.fake.state.script(ScriptRule(code=131056, to=other, times=2))
    channel.fake.state.script(ScriptRule(code=500, to=other))
    deliver(client, text_delivery(other, "where is my order", "wamid.c2"))
    channel.drain()
    assert [s["type"] for s in channel.fake.state.sent_to(other)] == ["text"]


def test_statuses_apply_in_order_even_when_delivered_backwards(
    client: TestClient, channel: Channel
) -> None:
    body = json.loads(sample_bytes("11_statuses_sent_delivered_read.json"))
    statuses = body["entry"][0]["changes"][0]["value"]["statuses"]
    for status in reversed(statuses):  # read, delivered, sent: each in its own delivery
        single = json.loads(json.dumps(body))
        single["entry"][0]["changes"][0]["value"]["statuses"] = [status]
        deliver(client, json.dumps(single).encode())
        channel.drain()
    with UnitOfWork(channel.platform.session_factory) as uow:
        row = uow.session.get(DeliveryStatus, statuses[0]["id"])
        assert row is not None and row.status == "read"


def test_failed_131047_status_sends_the_template_once(client: TestClient, channel: Channel) -> None:
    deliver(client, text_delivery(PHONE, "where is my order", "wamid.d1"))
    channel.drain()
    bot_wa_id = channel.fake.state.sent_to(PHONE)[0]["wa_id"]
    failed = json.loads(sample_bytes("12_status_failed_131047.json"))
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = bot_wa_id
    body = json.dumps(failed).encode()
    deliver(client, body)
    deliver(client, body + b" ")  # a second, different delivery of the same status
    channel.drain()
    assert [s["type"] for s in channel.fake.state.sent_to(PHONE)] == ["text", "template"]
    with UnitOfWork(channel.platform.session_factory) as uow:
        row = uow.session.get(DeliveryStatus, bot_wa_id)
        assert row is not None and (row.status, row.error_code) == ("failed", 131047)


def test_context_carries_previous_turns(client: TestClient, channel: Channel) -> None:
    deliver(client, text_delivery(PHONE, "hi", "wamid.e1"))
    channel.drain()
    deliver(client, text_delivery(PHONE, "where is my order", "wamid.e2"))
    channel.drain()
    replies = texts_to(channel, PHONE)
    assert replies[0].endswith("(turns 0)") and replies[1].endswith("(turns 2)")


def test_sla_breach_is_notified_once(settings: Settings) -> None:
    now = [datetime.now(UTC)]
    with (
        open_channel(settings, clock=lambda: now[0]) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        deliver(client, text_delivery(PHONE, "I want a refund, call your manager", "wamid.s1"))
        channel.drain()
        handlers = AssistantHandlers(channel.runtime)
        assert handlers.sweep_sla() == 0
        now[0] += timedelta(minutes=16)  # past the 15-minute SLA of a high-priority handoff
        assert handlers.sweep_sla() == 1
        assert handlers.sweep_sla() == 0
        breached = channel.notifier.sent[-1]
        assert breached.severity == "critical" and "SLA breached" in breached.title
        with UnitOfWork(channel.platform.session_factory) as uow:
            [entry] = agent_queue(uow.session, now[0])
            assert entry.breached and entry.priority == "high"


def test_a_long_silence_starts_a_new_session_with_a_fresh_context(settings: Settings) -> None:
    now = [datetime.now(UTC)]
    with (
        open_channel(settings, clock=lambda: now[0], session_idle_s=3600) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        deliver(client, text_delivery(PHONE, "hi", "wamid.n1", at=now[0]))
        channel.drain()
        now[0] += timedelta(hours=2)
        deliver(client, text_delivery(PHONE, "where is my order", "wamid.n2", at=now[0]))
        channel.drain()
        assert texts_to(channel, PHONE)[-1].endswith("(turns 0)")
        with UnitOfWork(channel.platform.session_factory) as uow:
            sessions = uow.session.scalars(sa.select(ChatMessage.session_no)).all()
            assert sorted(sessions) == [1, 1, 2, 2]


def test_the_authenticated_key_is_the_actor_whatever_the_body_says(
    client: TestClient, channel: Channel
) -> None:
    with UnitOfWork(channel.platform.session_factory) as uow:
        raw, record = create_api_key(uow.session, "console", ["assistant:*"])
        uow.commit()
    auth = {"x-api-key": raw}
    conv_id = _conversation_of(client, channel, auth, "wamid.a1")
    base = f"/assistant/conversations/{conv_id}"
    assert client.post(f"{base}/takeover", json={"agent": "admin"}, headers=auth).is_success
    sent = client.post(f"{base}/reply", json={"agent": "ceo", "text": "Hola"}, headers=auth)
    assert sent.status_code == 202
    assert client.post(f"{base}/handback", json={"agent": "root"}, headers=auth).is_success
    with UnitOfWork(channel.platform.session_factory) as uow:
        entries = {e.action: e for e in list_audit(uow.session, limit=50)}
    actor = f"apikey:{record.prefix}"
    for action, name in [
        ("assistant.takeover", "admin"),
        ("assistant.reply", "ceo"),
        ("assistant.handback", "root"),
    ]:
        assert entries[action].actor == actor, action
        assert entries[action].details["agent_name"] == name
    assert entries["assistant.reply"].details["message_id"] == sent.json()["message_id"]
    assert "Hola" not in str(entries["assistant.reply"].details)


def test_the_key_is_checked_before_the_body_is_read(client: TestClient, channel: Channel) -> None:
    with UnitOfWork(channel.platform.session_factory) as uow:
        raw, _ = create_api_key(uow.session, "console", ["assistant:*"])
        uow.commit()
    for action in ("takeover", "reply", "handback"):
        url = f"/assistant/conversations/1/{action}"
        anonymous = client.post(url, content=b"{not json")
        assert anonymous.status_code == 401, anonymous.text
        bad = client.post(url, content=b"{not json", headers={"x-api-key": raw})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_json"
        empty = client.post(url, json={"agent": ""}, headers={"x-api-key": raw})
        assert empty.status_code == 422
        assert "agent" in [d["field"] for d in empty.json()["details"]]


def test_an_escalation_reaches_a_webhook_receiver_and_a_mail_server(settings: Settings) -> None:
    """The notifiers ``escalation_notify_urls`` names get each escalation once, with no
    personal data; a receiver that is down does not hold up the customer's answer."""
    from aiosmtpd.controller import Controller

    from ssmas.ops.stack import free_port
    from tests.fakes.webhook_sink import HttpSink, Reply
    from tests.ops_alert_support import MailBox

    box = MailBox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with HttpSink() as sink:
            sink.script(Reply(status=503))  # the first try fails: the notifier retries it
            urls = [
                f"webhook+{sink.url}/escalations",
                f"smtp://127.0.0.1:{smtp.port}?from=bot@ssmas.test&to=team@ssmas.test"
                "&security=none",
            ]
            clock = sample_clock("01_text_es_complaint.json")
            with (
                open_channel(
                    settings,
                    clock=clock,
                    real_notifiers=True,
                    escalation_notify_urls=urls,
                    visibility_timeout_s=0.2,
                ) as channel,
                TestClient(create_app(channel.platform)) as client,
            ):
                deliver(client, sample_bytes("01_text_es_complaint.json"))
                phone = "5215512345678"
                for _ in range(50):
                    channel.drain()
                    if len(sink.requests) >= 2 and box.messages:
                        break
                    time.sleep(0.1)
                assert len(texts_to(channel, phone)) == 1  # answered despite the 503
        posts = [r.json() for r in sink.requests]
        assert len(posts) == 2  # the refused try, then the retry: one escalation
        assert posts[-1]["fields"]["priority"] == "high"
        assert phone not in json.dumps(posts)
        [(_, mail)] = box.messages
        assert "WhatsApp escalation (high)" in str(mail["Subject"])
        assert phone not in mail.as_string()
    finally:
        smtp.stop()
