"""The assistant's dashboard pages over HTTP against the real app, workers and Graph API fake.

Sign-in goes through ``/login``; conversations are seeded through the real webhook and drained
through the real handlers (scripted brain), so the console's actions are checked end to end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.assistant.runtime import channel_cipher
from ssmas.assistant.tables import ChatMessage, Conversation, Handoff
from ssmas.core.db import UnitOfWork
from ssmas.core.security import create_api_key, list_audit
from tests.integration.assistant_channel_support import (
    Channel,
    signature,
    text_delivery,
)

PHONE = "16505550071"
ANGRY = "16505550072"
BASE = "/dashboard/assistant"
MAX_CONVERSATION = 2**63 - 1


def make_key(channel: Channel, name: str, scopes: list[str]) -> str:
    with UnitOfWork(channel.platform.session_factory) as uow:
        raw, _ = create_api_key(uow.session, name, scopes)
        uow.commit()
    return raw


def sign_in(client: TestClient, key: str) -> None:
    response = client.post("/login", data={"api_key": key}, follow_redirects=False)
    assert response.status_code == 303, response.text


def deliver(client: TestClient, channel: Channel, phone: str, text: str, wa_id: str) -> None:
    """Not the shared ``deliver``: builds a text delivery from a customer named Lucía and
    drains the workers, so the console pages have a conversation to show."""
    body = text_delivery(phone, text, wa_id, name="Lucía")
    response = client.post(
        "/whatsapp/webhook", content=body, headers={"x-hub-signature-256": signature(body)}
    )
    assert response.status_code == 200, response.text
    channel.drain()


def conversation_id(channel: Channel, phone: str) -> int:
    cipher = channel_cipher(channel.platform)
    with UnitOfWork(channel.platform.session_factory) as uow:
        rows = uow.session.scalars(sa.select(Conversation)).all()
        return next(r.id for r in rows if cipher.decrypt(r.phone_enc) == phone)


def authors(channel: Channel, conv_id: int) -> list[tuple[str, str]]:
    with UnitOfWork(channel.platform.session_factory) as uow:
        rows = uow.session.scalars(
            sa.select(ChatMessage)
            .where(ChatMessage.conversation_id == conv_id)
            .order_by(ChatMessage.id)
        ).all()
        return [(r.author, r.state) for r in rows]


def test_pages_require_login(client: TestClient) -> None:
    for path in [
        "conversations",
        "conversations/1",
        "queue",
        "analytics",
        "analytics/sentiment.png",
    ]:
        response = client.get(f"{BASE}/{path}", follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    partial = client.get(f"{BASE}/conversations/rows", headers={"hx-request": "true"})
    assert partial.status_code == 401 and partial.headers["hx-redirect"] == "/login"
    post = client.post(f"{BASE}/conversations/1/takeover", follow_redirects=False)
    assert post.status_code == 303


def test_pages_render_seeded_conversations(client: TestClient, channel: Channel) -> None:
    deliver(client, channel, PHONE, "where is my order", "wamid.w1")
    deliver(client, channel, ANGRY, "I want a refund, get me a manager", "wamid.w2")
    deliver(client, channel, "16505550073", "my order has not arrived yet", "wamid.w3")
    sign_in(client, make_key(channel, "viewer", ["assistant:read"]))
    page = client.get(f"{BASE}/conversations")
    assert page.status_code == 200
    assert 'hx-get="/dashboard/assistant/conversations/rows"' in page.text
    assert "···0071" in page.text and "Lucía" in page.text and "handoff" in page.text
    assert "Live conversations" in page.text and "Escalation queue" in page.text  # sidebar
    rows = client.get(f"{BASE}/conversations/rows")
    assert rows.status_code == 200 and "···0072" in rows.text and "<html" not in rows.text
    conv = conversation_id(channel, PHONE)
    view = client.get(f"{BASE}/conversations/{conv}")
    assert "where is my order" in view.text and "answer about order_status" in view.text
    assert "lacks <code>assistant:write</code>" in view.text and f"{conv}/reply" not in view.text
    assert client.get(f"{BASE}/conversations/9999").status_code == 404
    queue = client.get(f"{BASE}/queue")
    angry = conversation_id(channel, ANGRY)
    assert f'/conversations/{angry}">{angry}</a>' in queue.text
    assert "billing" in queue.text and "left" in queue.text and "high" in queue.text
    with UnitOfWork(channel.platform.session_factory) as uow:
        uow.session.execute(
            sa.update(Handoff).values(sla_due_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        uow.commit()
    late = client.get(f"{BASE}/queue")
    assert 'class="sla-breached" style="color:#c62828">breached 5m' in late.text
    report = client.get(f"{BASE}/analytics")
    assert report.status_code == 200
    assert "Conversations: <strong>3</strong>" in report.text
    assert "Escalation rate: <strong>33.3%</strong>" in report.text
    # the bot spoke last in two of them, but nobody confirmed anything was solved
    assert "Resolution rate: <strong>0.0%</strong>" in report.text
    assert "clusters.png?day=" in report.text and "order" in report.text
    clusters = client.get(f"{BASE}/analytics/clusters.png")
    assert clusters.status_code == 200 and clusters.content.startswith(b"\x89PNG")
    assert "sentiment.png?day=" in report.text
    png = client.get(f"{BASE}/analytics/sentiment.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert client.get(f"{BASE}/analytics?day=yesterday").status_code == 400
    assert client.get(f"{BASE}/analytics/other.png").status_code == 404
    bad = client.get(f"{BASE}/analytics/clusters.png?day=2026-13-01")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_day"


def test_console_takeover_reply_handback_from_the_page(
    client: TestClient, channel: Channel
) -> None:
    deliver(client, channel, PHONE, "where is my order", "wamid.c1")
    conv = conversation_id(channel, PHONE)
    sign_in(client, make_key(channel, "eva", ["assistant:read", "assistant:write"]))
    taken = client.post(f"{BASE}/conversations/{conv}/takeover", follow_redirects=False)
    assert taken.status_code == 303
    view = client.get(taken.headers["location"])
    assert '<strong class="assistant-state">human</strong>' in view.text and "web:eva" in view.text
    # the customer writes: stored, but the bot stays silent
    deliver(client, channel, PHONE, "hello? anyone there?", "wamid.c2")
    assert authors(channel, conv) == [("user", "done"), ("bot", "sent"), ("user", "done")]
    assert len(channel.fake.state.sent_to(PHONE)) == 1
    empty = client.post(f"{BASE}/conversations/{conv}/reply", data={"text": "  "})
    assert empty.status_code == 400 and "Write a reply" in empty.text
    sent = client.post(
        f"{BASE}/conversations/{conv}/reply",
        data={"text": "Hi, Eva here. It ships today."},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    channel.drain()
    last = channel.fake.state.sent_to(PHONE)[-1]
    assert last["body"]["text"]["body"] == "Hi, Eva here. It ships today."
    back = client.post(f"{BASE}/conversations/{conv}/handback", follow_redirects=False)
    assert back.status_code == 303
    deliver(client, channel, PHONE, "one more question about my order", "wamid.c3")
    assert [a for a, _ in authors(channel, conv)] == ["user", "bot", "user", "agent", "user", "bot"]
    with UnitOfWork(channel.platform.session_factory) as uow:
        actions = [(e.actor, e.action) for e in list_audit(uow.session, limit=50)]
    for action in ["assistant.takeover", "assistant.handback", "assistant.conversation.read"]:
        assert ("web:eva", action) in actions
    cross = client.post(
        f"{BASE}/conversations/{conv}/takeover", headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403


def test_read_only_key_cannot_act(client: TestClient, channel: Channel) -> None:
    deliver(client, channel, PHONE, "where is my order", "wamid.r1")
    conv = conversation_id(channel, PHONE)
    sign_in(client, make_key(channel, "ro", ["assistant:read"]))
    response = client.post(f"{BASE}/conversations/{conv}/takeover")
    assert response.status_code == 403
    assert authors(channel, conv) == [("user", "done"), ("bot", "sent")]
    sign_in(client, make_key(channel, "pricing", ["pricing:read"]))
    hidden = client.get(f"{BASE}/conversations")
    assert hidden.status_code == 200 and "···0071" not in hidden.text and "hidden" in hidden.text
    assert client.get(f"{BASE}/conversations/{conv}").status_code == 403


def test_pages_check_scopes_as_the_api_does(client: TestClient, channel: Channel) -> None:
    """One rule for page and API: the queue needs assistant:read on both; admin implies read."""
    sign_in(client, make_key(channel, "pricer", ["pricing:read"]))
    queue = client.get(f"{BASE}/queue")
    assert queue.status_code == 403 and "assistant:read" in queue.text
    sign_in(client, make_key(channel, "lead", ["assistant:admin"]))
    assert client.get(f"{BASE}/queue").status_code == 200
    conversation = client.get(f"{BASE}/conversations/{MAX_CONVERSATION}")
    assert conversation.status_code == 404  # read granted by admin; no such conversation
