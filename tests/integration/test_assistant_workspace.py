"""The agent workspace through the live channel: webhook → queues → text pipeline → Graph fake
(real HTTP), the agent API and the SLA worker's sweep. Only the brain is scripted.

Routing (rules, round robin, languages, capacity, away), canned responses, private notes, rich
replies, status (pending pauses the resolution clock, snoozed wakes, resolved reopens), the CSAT
survey and its answer, resolution by customer confirmation in analytics, and bad input as 4xx
JSON. Every test runs on SQLite and on the real PostgreSQL (a fresh database each).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.assistant import analytics
from ssmas.assistant.console import Console
from ssmas.assistant.runtime import channel_cipher, channel_settings
from ssmas.assistant.tables import Conversation, CsatAnswer, Handoff
from ssmas.assistant.workers import AssistantHandlers
from ssmas.bootstrap import create_app
from ssmas.core.db import UnitOfWork
from ssmas.core.metrics import REGISTRY
from ssmas.core.security import create_api_key, list_audit
from ssmas.settings import Settings
from tests.conftest import PG_ADMIN_URL
from tests.integration.assistant_channel_support import (
    BUSINESS_ID,
    Channel,
    open_channel,
    text_delivery,
)
from tests.integration.assistant_fixtures import deliver

ANGRY = "I want a refund, get me a manager"
ENOJO = "quiero cancelar, hola, devuelvan mi dinero"


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The test's settings on SQLite, or on a fresh PostgreSQL database (dropped after)."""
    if request.param == "sqlite":
        s = Settings(profile="test", data_dir=tmp_path / "data")
        s.ensure_dirs()
        yield s
        return
    name = f"ssmas_ws_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    s = Settings(profile="test", data_dir=tmp_path / "data", database_url=url)
    s.ensure_dirs()
    try:
        yield s
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def keys(channel: Channel) -> tuple[dict[str, str], dict[str, str], str]:
    """Headers of an admin key and of an agent key, and the agent key's handle."""
    with UnitOfWork(channel.platform.session_factory) as uow:
        admin, _ = create_api_key(uow.session, "lead", ["assistant:admin"])
        agent, record = create_api_key(uow.session, "eva", ["assistant:read", "assistant:write"])
        uow.commit()
    return {"x-api-key": admin}, {"x-api-key": agent}, f"apikey:{record.prefix}"


def reply_delivery(phone: str, message_id: str, reply_id: str, title: str) -> bytes:
    """A customer's pick from a list message (``interactive.list_reply``)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": BUSINESS_ID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": phone}],
        "messages": [
            {
                "from": phone,
                "id": message_id,
                "timestamp": str(int(datetime.now(UTC).timestamp())),
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": reply_id, "title": title},
                },
            }
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(body).encode()


def conversation_of(channel: Channel, phone: str) -> Conversation:
    cipher = channel_cipher(channel.platform)
    with UnitOfWork(channel.platform.session_factory) as uow:
        rows = uow.session.scalars(sa.select(Conversation)).all()
        found = next(r for r in rows if cipher.decrypt(r.phone_enc) == phone)
        uow.session.expunge(found)
        return found


def handoff_of(channel: Channel, conversation_id: int) -> Handoff:
    with UnitOfWork(channel.platform.session_factory) as uow:
        row = uow.session.scalars(
            sa.select(Handoff)
            .where(Handoff.conversation_id == conversation_id)
            .order_by(Handoff.id.desc())
        ).first()
        assert row is not None
        uow.session.expunge(row)
        return row


def escalate(client: TestClient, channel: Channel, phone: str, text: str, wa_id: str) -> int:
    deliver(client, text_delivery(phone, text, wa_id))
    channel.drain()
    return conversation_of(channel, phone).id


def post(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(f"/assistant{path}", json=body, headers=headers)


def test_escalations_are_routed_by_rules_round_robin_language_and_capacity(
    client: TestClient, channel: Channel
) -> None:
    admin, agent, _ = keys(channel)
    for team in ("billing", "support"):
        assert post(client, "/teams", {"name": team}, admin).status_code == 201
    for handle, languages, capacity in (
        ("web:eva", ["en", "es"], 1),
        ("web:leo", ["es"], 2),
        ("web:ann", ["en"], 1),
    ):
        made = post(
            client,
            "/agents",
            {
                "handle": handle,
                "name": handle[4:].title(),
                "languages": languages,
                "capacity": capacity,
                "teams": ["billing"],
            },
            admin,
        )
        assert made.status_code == 201, made.text
    # a write key cannot manage the directory; bad input is a 4xx with a JSON reason
    assert post(client, "/teams", {"name": "x"}, agent).status_code == 403
    taken = post(client, "/teams", {"name": "billing"}, admin)
    assert taken.status_code == 409 and taken.json()["error"] == "conflict"
    bad_team = post(client, "/teams", {"name": "Bad Name!"}, admin)
    assert bad_team.status_code == 400 and "team name" in bad_team.json()["message"]
    bad_rule = post(client, "/rules", {"team": "nope", "priority": "high"}, admin)
    assert bad_rule.status_code == 404 and bad_rule.json()["error"] == "not_found"
    assert post(client, "/rules", {"team": "billing", "priority": "x"}, admin).status_code == 422
    # angry customers escalate with priority high; the rule routes high to billing
    assert post(client, "/rules", {"team": "billing", "priority": "high"}, admin).status_code == 201
    a = escalate(client, channel, "16505550101", ANGRY, "wamid.r1")  # en
    b = escalate(client, channel, "16505550102", ANGRY, "wamid.r2")  # en
    c = escalate(client, channel, "5215550103", ENOJO, "wamid.r3")  # es
    d = escalate(client, channel, "16505550104", ANGRY, "wamid.r4")  # en
    assigned = {cid: handoff_of(channel, cid).agent for cid in (a, b, c, d)}
    # eva first in turn; then ann (eva is full, leo has no English); leo speaks Spanish;
    # nobody left for the fourth: it waits in billing's queue
    assert assigned == {a: "web:eva", b: "web:ann", c: "web:leo", d: None}
    assert handoff_of(channel, d).team_id is not None
    assert conversation_of(channel, "16505550101").agent == "web:eva"
    queue = client.get("/assistant/handoffs?team=billing", headers=agent).json()
    assert {e["conversation_id"] for e in queue} == {a, b, c, d}
    assert all(e["team"] == "billing" and e["resolution_due_at"] for e in queue)
    assert client.get("/assistant/handoffs?team=support", headers=agent).json() == []
    # ann can take two now; eva goes away: her unanswered conversation moves to ann
    patch = client.patch("/assistant/agents/web:ann", json={"capacity": 2}, headers=admin)
    assert patch.status_code == 200, patch.text
    away = client.patch("/assistant/agents/web:eva", json={"status": "away"}, headers=admin)
    assert away.json()["reassigned"] == [
        {
            "handoff_id": handoff_of(channel, a).id,
            "conversation_id": a,
            "from_agent": "web:eva",
            "to_agent": "web:ann",
        }
    ]
    assert handoff_of(channel, a).agent == "web:ann"
    # over capacity (lowered to one): her newest unanswered conversation goes back to the queue
    lowered = client.patch("/assistant/agents/web:ann", json={"capacity": 1}, headers=admin)
    assert lowered.json()["reassigned"][0]["to_agent"] is None
    assert {handoff_of(channel, a).agent, handoff_of(channel, b).agent} == {"web:ann", None}
    agents = {x["handle"]: x for x in client.get("/assistant/agents", headers=agent).json()}
    assert agents["web:ann"]["load"] == 1 and agents["web:eva"]["status"] == "away"
    missing = client.patch("/assistant/agents/web:nobody", json={"status": "away"}, headers=admin)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    with UnitOfWork(channel.platform.session_factory) as uow:
        actions = {e.action for e in list_audit(uow.session, limit=100)}
    assert {"assistant.add_team", "assistant.add_agent", "assistant.add_rule"} <= actions
    assert {"assistant.update_agent", "assistant.reassign"} <= actions


def test_agent_workspace_from_notes_to_csat(client: TestClient, channel: Channel) -> None:
    admin, agent, handle = keys(channel)
    phone = "16505550201"
    assert post(client, "/teams", {"name": "billing"}, admin).status_code == 201
    body = {"handle": handle, "name": "Eva", "languages": ["en"], "teams": ["billing"]}
    assert post(client, "/agents", body, admin).status_code == 201
    conv = escalate(client, channel, phone, ANGRY, "wamid.w1")
    assert handoff_of(channel, conv).agent == handle  # department billing names the team
    told = channel.notifier.sent[-1]  # the escalation notice names where it was routed
    assert (told.fields["team"], told.fields["assigned_to"]) == ("billing", handle)
    base = f"/conversations/{conv}"
    sent_before = len(channel.fake.state.sent_to(phone))

    # a private note: stored and shown, never sent, never given to the bot
    note = post(client, f"{base}/notes", {"agent": "eva", "text": "VIP: invoice 42 twice"}, agent)
    assert note.status_code == 201
    channel.drain()
    assert len(channel.fake.state.sent_to(phone)) == sent_before
    read = client.get(f"/assistant{base}", headers=agent).json()
    assert [n["text"] for n in read["notes"]] == ["VIP: invoice 42 twice"]
    assert read["team"] == "billing" and read["handoff"]["agent"] == handle

    # a canned response with variables
    canned = post(
        client,
        "/canned",
        {"shortcut": "hello", "body": "Hi {{first_name}}, {{agent}} here.", "team": "billing"},
        agent,
    )
    assert canned.status_code == 201
    typo = post(client, "/canned", {"shortcut": "bad", "body": "Hi {{nmae}}"}, agent)
    assert typo.status_code == 400 and "nmae" in typo.json()["message"]
    listed = client.get("/assistant/canned?team=billing", headers=agent).json()
    assert [c["shortcut"] for c in listed] == ["hello"]
    sent = post(client, f"{base}/reply", {"agent": "eva", "canned_id": canned.json()["id"]}, agent)
    assert sent.status_code == 202

    # rich replies
    replies = [
        {
            "kind": "buttons",
            "text": "Did that help?",
            "buttons": [{"id": "resolved_yes", "title": "Yes"}, {"id": "no", "title": "No"}],
        },
        {
            "kind": "list",
            "text": "Pick one",
            "list_button": "Options",
            "rows": [
                {"id": "inv", "title": "Invoices", "description": "copies"},
                {"id": "pay", "title": "Payments"},
            ],
        },
        {"kind": "image", "text": "Your chart", "link": "https://example.com/chart.png"},
        {
            "kind": "document",
            "text": "Invoice",
            "link": "https://example.com/inv.pdf",
            "filename": "invoice-42.pdf",
        },
    ]
    for reply in replies:
        answer = post(client, f"{base}/reply", {"agent": "eva", **reply}, agent)
        assert answer.status_code == 202, answer.text
    # bad rich replies: 4xx with a JSON reason, nothing queued
    bad = [
        (
            {
                "kind": "buttons",
                "text": "x",
                "buttons": [{"id": str(i), "title": "t"} for i in range(4)],
            },
            422,
        ),
        ({"kind": "buttons", "text": "x", "buttons": [{"id": "a", "title": "t" * 21}]}, 422),
        ({"kind": "image", "text": "no link"}, 400),
        ({"kind": "list", "text": "x", "rows": [{"id": "a", "title": "b"}]}, 400),
        ({"kind": "sticker", "text": "x"}, 422),
        ({"canned_id": 999}, 404),
        ({"text": ""}, 400),
    ]
    for payload, status in bad:
        refused = post(client, f"{base}/reply", {"agent": "eva", **payload}, agent)
        assert refused.status_code == status, (payload, refused.text)
        assert "error" in refused.json()
    channel.drain()
    out = channel.fake.state.sent_to(phone)[sent_before:]
    assert [o["type"] for o in out] == ["text", "interactive", "interactive", "image", "document"]
    assert out[0]["body"]["text"]["body"] == "Hi Ana, Eva here."
    assert out[1]["body"]["interactive"]["action"]["buttons"][0]["reply"]["id"] == "resolved_yes"
    listing = out[2]["body"]["interactive"]
    assert listing["type"] == "list" and listing["action"]["sections"][0]["rows"][0] == {
        "id": "inv",
        "title": "Invoices",
        "description": "copies",
    }
    assert out[3]["body"]["image"] == {
        "link": "https://example.com/chart.png",
        "caption": "Your chart",
    }
    assert out[4]["body"]["document"]["filename"] == "invoice-42.pdf"

    # replying left it pending: the resolution clock is paused until the customer writes
    assert conversation_of(channel, phone).status == "pending"
    paused = handoff_of(channel, conv)
    assert paused.paused_at is not None and paused.first_response_at is not None
    deliver(client, text_delivery(phone, "ok, thanks for the documents", "wamid.w2"))
    channel.drain()
    assert conversation_of(channel, phone).status == "open"
    resumed = handoff_of(channel, conv)
    assert resumed.paused_at is None
    assert resumed.resolution_due_at is not None and paused.resolution_due_at is not None
    assert resumed.resolution_due_at > paused.resolution_due_at  # pushed by the pause
    assert len(channel.fake.state.sent_to(phone)) == sent_before + 5  # the bot stays silent

    # resolve: the handoff closes, the bot holds it again, the 1-5 survey goes out as a list
    done = post(client, f"{base}/status", {"agent": "eva", "status": "resolved"}, agent)
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    channel.drain()
    survey = channel.fake.state.sent_to(phone)[-1]["body"]["interactive"]
    assert [r["id"] for r in survey["action"]["sections"][0]["rows"]] == [
        f"csat:{i}" for i in range(1, 6)
    ]
    assert handoff_of(channel, conv).state == "closed"
    assert conversation_of(channel, phone).state == "bot"
    # the customer picks 5: recorded with the agent and team, thanked, still resolved
    deliver(client, reply_delivery(phone, "wamid.w3", "csat:5", "5 · Excellent"))
    channel.drain()
    assert channel.fake.state.sent_to(phone)[-1]["body"]["text"]["body"] == (
        "Thank you for your rating!"
    )
    assert conversation_of(channel, phone).status == "resolved"
    with UnitOfWork(channel.platform.session_factory) as uow:
        answer = uow.session.scalars(sa.select(CsatAnswer)).one()
        assert (answer.score, answer.agent) == (5, handle)
    assert client.get("/assistant/csat?by=agent", headers=agent).json() == [
        {"agent": handle, "answers": 1, "mean": 5.0, "satisfied_share": 1.0}
    ]
    assert client.get("/assistant/csat?by=team", headers=agent).json()[0]["team"] == "billing"
    assert client.get("/assistant/csat?by=day", headers=agent).status_code == 422
    # analytics: resolved because the customer rated it 5
    report = analytics.daily_report(
        channel.platform.session_factory, channel_cipher(channel.platform), datetime.now(UTC).date()
    )
    assert report.rates.resolution_rate == 1.0 and report.rates.csat_mean == 5.0
    listed = client.get("/assistant/conversations?status=resolved", headers=agent).json()
    assert [c["id"] for c in listed] == [conv]
    assert client.get("/assistant/conversations?status=closed", headers=agent).status_code == 422
    # a new message reopens it, and the bot answers
    deliver(client, text_delivery(phone, "where is my order now?", "wamid.w4"))
    channel.drain()
    assert conversation_of(channel, phone).status == "open"
    assert client.get("/assistant/conversations?status=resolved", headers=agent).json() == []
    assert (
        "answer about order_status" in channel.fake.state.sent_to(phone)[-1]["body"]["text"]["body"]
    )
    with UnitOfWork(channel.platform.session_factory) as uow:
        actions = [(e.actor, e.action) for e in list_audit(uow.session, limit=100)]
    for action in (
        "assistant.note",
        "assistant.reply",
        "assistant.status.resolved",
        "assistant.add_canned",
    ):
        assert (handle, action) in actions
    # notes never reach the bot: the scripted brain saw only the customer's words
    assert not any("VIP" in seen for seen in channel.brain.seen)
    # the customer's export holds the notes and the survey; erasure deletes them
    exported = client.get(f"/assistant/customers/{phone}/export", headers=admin).json()
    [held] = exported["conversations"]
    assert [n["text"] for n in held["notes"]] == ["VIP: invoice 42 twice"]
    assert [c["score"] for c in held["satisfaction"]] == [5]
    erased = client.delete(f"/assistant/customers/{phone}", headers=admin).json()["erased"]
    assert (erased["notes"], erased["csat_answers"]) == (1, 1)
    with UnitOfWork(channel.platform.session_factory) as uow:
        assert uow.session.scalars(sa.select(CsatAnswer)).all() == []


def test_snooze_wakes_by_time_or_message_and_the_sweep_counts_resolution_breaches(
    settings: Settings,
) -> None:
    now = [datetime.now(UTC)]
    targets = {"urgent": 30.0, "high": 100.0, "medium": 600.0, "low": 1000.0}
    with (
        open_channel(settings, clock=lambda: now[0], sla_resolution_minutes=targets) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        _, agent, handle = keys(channel)
        first = escalate(client, channel, "16505550301", ANGRY, "wamid.s1")
        opened = handoff_of(channel, first)
        assert opened.resolution_due_at is not None
        assert opened.resolution_due_at - opened.opened_at == timedelta(minutes=100)
        assert opened.sla_due_at - opened.opened_at == timedelta(minutes=15)
        second = escalate(client, channel, "16505550302", "where is my order", "wamid.s2")
        console = Console(
            channel.platform.session_factory,
            channel_cipher(channel.platform),
            channel.platform.bus,
            channel.platform.cache,
            channel_settings(channel.platform),
        )
        until = now[0] + timedelta(hours=1)
        snoozed = post(
            client,
            f"/conversations/{first}/status",
            {"agent": "eva", "status": "snoozed", "until": until.isoformat()},
            agent,
        )
        assert snoozed.status_code == 200 and snoozed.json()["snoozed_until"]
        past = post(
            client,
            f"/conversations/{first}/status",
            {"agent": "eva", "status": "snoozed", "until": "2020-01-01T00:00:00Z"},
            agent,
        )
        assert past.status_code == 400 and "future" in past.json()["message"]
        no_time = post(
            client, f"/conversations/{first}/status", {"agent": "e", "status": "snoozed"}, agent
        )
        assert no_time.status_code == 400
        console.set_status(second, handle, "snoozed", now[0], until=now[0] + timedelta(days=1))
        # the customer of the second writes: it wakes at once
        deliver(client, text_delivery("16505550302", "hello?", "wamid.s3", at=now[0]))
        channel.drain()
        assert conversation_of(channel, "16505550302").status == "open"
        # the first wakes when its time comes (the SLA worker's pass)
        handlers = AssistantHandlers(channel.runtime)
        breaches = (
            REGISTRY.get_sample_value(
                "ssmas_assistant_sla_breaches_total", {"target": "resolution", "priority": "high"}
            )
            or 0.0
        )
        now[0] += timedelta(minutes=30)
        handlers.sweep_sla()
        assert conversation_of(channel, "16505550301").status == "snoozed"
        now[0] += timedelta(minutes=31)
        handlers.sweep_sla()
        assert conversation_of(channel, "16505550301").status == "open"
        assert handoff_of(channel, first).resolution_breach_notified_at is None
        # past the configured 100-minute resolution target of a high priority: counted once
        now[0] += timedelta(minutes=40)
        assert handlers.sweep_sla() == 1
        handlers.sweep_sla()
        after = REGISTRY.get_sample_value(
            "ssmas_assistant_sla_breaches_total", {"target": "resolution", "priority": "high"}
        )
        assert after == breaches + 1
        queue = client.get("/assistant/handoffs", headers=agent).json()
        entry = next(e for e in queue if e["conversation_id"] == first)
        # the API's clock is the real one: only the stored marks are compared here
        assert entry["priority"] == "high"
        assert handoff_of(channel, first).resolution_breach_notified_at is not None


def test_customer_confirmation_resolves_and_counts_in_analytics(
    client: TestClient, channel: Channel
) -> None:
    phone = "16505550401"
    deliver(client, text_delivery(phone, "where is my order", "wamid.c1"))
    channel.drain()
    assert conversation_of(channel, phone).status == "open"
    report = analytics.daily_report(
        channel.platform.session_factory, channel_cipher(channel.platform), datetime.now(UTC).date()
    )
    assert report.rates.resolution_rate == 0.0  # the bot spoke last: not a resolution
    deliver(client, reply_delivery(phone, "wamid.c2", "resolved_yes", "Yes, solved"))
    channel.drain()
    row = conversation_of(channel, phone)
    assert row.status == "resolved" and row.resolved_at is not None
    report = analytics.daily_report(
        channel.platform.session_factory, channel_cipher(channel.platform), datetime.now(UTC).date()
    )
    assert report.rates.resolution_rate == 1.0
    deliver(client, text_delivery(phone, "one more thing", "wamid.c3"))
    channel.drain()
    assert conversation_of(channel, phone).status == "open"


def test_the_demo_workspace_routes_escalations(client: TestClient, channel: Channel) -> None:
    from ssmas.assistant.workspace import seed_demo

    with UnitOfWork(channel.platform.session_factory) as uow:
        assert seed_demo(uow.session, datetime.now(UTC)) is True
        assert seed_demo(uow.session, datetime.now(UTC)) is False  # once
        uow.commit()
    english = escalate(client, channel, "16505550601", ANGRY, "wamid.d1")
    spanish = escalate(client, channel, "5215550602", ENOJO, "wamid.d2")
    # billing by department; Tom answers English there, Lucía Spanish
    assert handoff_of(channel, english).agent == "web:tom"
    assert handoff_of(channel, spanish).agent == "web:lucia"
