"""A worker that dies between Meta's acceptance of a reply and recording it as sent.

The Graph API fake accepts the send, then the worker "dies" (``WorkerDied`` is raised where the
round's ``sent`` transaction would run: no handler catches it, so the text message stays in
flight on the bus, unacknowledged, as a dead process leaves it). After the claim lapses:

- a status webhook echoing the reply's token (``biz_opaque_callback_data``) records the row
  sent with Meta's id, and the bus's redelivery sends nothing more;
- with no status, the takeover sends again (at least once, never silence);
- a status recorded for the token but not applied to the row is still found by the takeover.

Real HTTP to the fake, the real webhook, router and workers' handlers, on SQLite and on
PostgreSQL (the bus stays SQLite; the clock is the test's, so the lease lapses on demand).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
import structlog
from fastapi.testclient import TestClient

from ssmas.assistant.store import apply_status, send_token
from ssmas.assistant.tables import ChatMessage, DeliveryStatus
from ssmas.assistant.workers import assistant_subscriptions
from ssmas.bootstrap import create_app
from ssmas.core.db import UnitOfWork
from ssmas.core.worker import drain_once
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import (
    Channel,
    open_channel,
    signature,
    text_delivery,
)

URL = "/whatsapp/webhook"
LEASE_S = 30.0
VISIBILITY_S = 0.3  # how long the dead worker's text message stays invisible on the bus


class WorkerDied(BaseException):
    """Stands for the process ending: not an ``Exception``, so nothing nacks the message."""


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Setup:
    channel: Channel
    client: TestClient
    clock: Clock
    phone: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def setup(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Setup]:
    if request.param == "postgres":
        settings = settings.model_copy(update={"database_url": request.getfixturevalue("pg_url")})
    clock = Clock()
    with (
        open_channel(settings, clock=clock, send_lease_s=LEASE_S) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        # PostgreSQL keeps one database for the session: a fresh customer per test
        yield Setup(channel, client, clock, "1650" + str(uuid4().int)[:8])


def post(client: TestClient, body: bytes) -> None:
    response = client.post(URL, content=body, headers={"x-hub-signature-256": signature(body)})
    assert response.status_code == 200, response.text


def drain(channel: Channel, queues: tuple[str, ...] | None = None) -> int:
    """Channel.drain with a short visibility timeout, so a dead worker's message comes back."""
    subs = assistant_subscriptions(
        channel.platform,
        runtime=channel.runtime,
        queues=queues or ("inbound", "text", "media", "status", "outbound"),
        visibility_timeout_s=VISIBILITY_S,
    )
    total, idle = 0, 0
    while idle < 2:
        done = drain_once(channel.platform.bus, subs, "test", channel.stats)
        total += done
        idle = idle + 1 if done == 0 else 0
    return total


def die_after_the_send(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> ChatMessage:
    """A customer writes; the fake accepts the reply; the worker dies before recording it.
    Returns the reply row as the dead worker left it."""
    message_id = f"wamid.in.{uuid4().hex}"
    post(setup.client, text_delivery(setup.phone, "where is my order", message_id))

    def crash(*args: Any, **kwargs: Any) -> None:
        raise WorkerDied

    with monkeypatch.context() as patch:
        patch.setattr("ssmas.assistant.outbox.mark_sent_many", crash)
        with pytest.raises(WorkerDied):
            drain(setup.channel)
    with UnitOfWork(setup.channel.platform.session_factory) as uow:
        inbound = uow.session.scalars(
            sa.select(ChatMessage).where(ChatMessage.wa_id == message_id)
        ).one()
        reply = uow.session.scalars(
            sa.select(ChatMessage).where(ChatMessage.reply_to_id == inbound.id)
        ).one()
        uow.session.expunge(reply)
    assert (reply.state, reply.attempts, reply.wa_id) == ("sending", 1, None)
    [sent] = setup.channel.fake.state.sent_to(setup.phone)
    assert sent["body"]["biz_opaque_callback_data"] == send_token(reply.id, reply.created_at)
    assert setup.channel.fake.state.reads == []  # the worker died before marking read
    return reply


def row(setup: Setup, message_id: int) -> ChatMessage:
    with UnitOfWork(setup.channel.platform.session_factory) as uow:
        found = uow.session.get(ChatMessage, message_id)
        assert found is not None
        uow.session.expunge(found)
        return found


def redeliver(setup: Setup) -> list[dict[str, Any]]:
    """Let the dead worker's message come back and drain; returns the log events."""
    time.sleep(VISIBILITY_S + 0.1)
    with structlog.testing.capture_logs() as logs:
        drain(setup.channel)
    assert setup.channel.stats.by_topic.get("assistant.text") == 1  # handled, acknowledged
    return logs


def test_a_status_with_the_token_records_the_send_and_nothing_goes_out_again(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = die_after_the_send(setup, monkeypatch)
    [accepted] = setup.channel.fake.state.sent_to(setup.phone)
    setup.clock.advance(LEASE_S + 5)  # the claim has lapsed
    status = setup.channel.fake.state.status_delivery(accepted["wa_id"], "sent")
    assert status is not None
    post(setup.client, json.dumps(status).encode())
    with structlog.testing.capture_logs() as logs:
        drain(setup.channel, ("inbound", "status"))  # before the text message comes back
    assert [e["event"] for e in logs if e["event"].startswith("send_")] == [
        "send_settled_by_status"
    ]
    settled = row(setup, reply.id)
    assert (settled.state, settled.wa_id, settled.attempts) == ("sent", accepted["wa_id"], 1)
    events = [e["event"] for e in redeliver(setup)]
    assert "send_takeover" not in events and "duplicate_message" in events
    assert len(setup.channel.fake.state.sent_to(setup.phone)) == 1  # no second send
    assert row(setup, reply.id).state == "sent"


def test_without_any_status_the_takeover_still_sends_again(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = die_after_the_send(setup, monkeypatch)
    setup.clock.advance(LEASE_S + 5)
    logs = redeliver(setup)
    takeovers = [e for e in logs if e["event"] == "send_takeover"]
    assert len(takeovers) == 1 and takeovers[0]["message_id"] == reply.id
    assert takeovers[0]["attempt"] == 2
    first, second = setup.channel.fake.state.sent_to(setup.phone)
    token = send_token(reply.id, reply.created_at)
    assert [s["body"]["biz_opaque_callback_data"] for s in (first, second)] == [token, token]
    again = row(setup, reply.id)
    assert (again.state, again.wa_id, again.attempts) == ("sent", second["wa_id"], 2)
    # the first send's late status now reveals the duplicate; the row keeps the second id
    late = setup.channel.fake.state.status_delivery(first["wa_id"], "delivered")
    assert late is not None
    post(setup.client, json.dumps(late).encode())
    with structlog.testing.capture_logs() as logs:
        drain(setup.channel)
    assert "send_duplicate_detected" in [e["event"] for e in logs]
    assert row(setup, reply.id).wa_id == second["wa_id"]


def test_the_takeover_consults_statuses_recorded_for_the_token(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = die_after_the_send(setup, monkeypatch)
    [accepted] = setup.channel.fake.state.sent_to(setup.phone)
    setup.clock.advance(LEASE_S + 5)
    # a status recorded for the token that did not reach the row (only the consult can see it)
    with UnitOfWork(setup.channel.platform.session_factory) as uow:
        apply_status(
            uow.session,
            wa_id=accepted["wa_id"],
            status="delivered",
            status_at=setup.clock(),
            error_code=None,
            now=setup.clock(),
            callback_data=send_token(reply.id, reply.created_at),
        )
        uow.commit()
    logs = redeliver(setup)
    recovered = [e for e in logs if e["event"] == "send_recovered"]
    assert [(e["message_id"], e["status"], e["outcome"]) for e in recovered] == [
        (reply.id, "delivered", "settled")
    ]
    assert "send_takeover" not in [e["event"] for e in logs]
    assert len(setup.channel.fake.state.sent_to(setup.phone)) == 1
    done = row(setup, reply.id)
    assert (done.state, done.wa_id, done.attempts) == ("sent", accepted["wa_id"], 2)


def test_a_failed_131047_status_settles_the_row_then_the_template_follows(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = die_after_the_send(setup, monkeypatch)
    [accepted] = setup.channel.fake.state.sent_to(setup.phone)
    failed = setup.channel.fake.state.status_delivery(
        accepted["wa_id"], "failed", error_code=131047
    )
    assert failed is not None
    post(setup.client, json.dumps(failed).encode())
    drain(setup.channel, ("inbound", "status", "outbound"))
    assert [s["type"] for s in setup.channel.fake.state.sent_to(setup.phone)] == [
        "text",
        "template",
    ]
    settled = row(setup, reply.id)
    assert (settled.state, settled.wa_id) == ("sent", accepted["wa_id"])
    with UnitOfWork(setup.channel.platform.session_factory) as uow:
        status = uow.session.get(DeliveryStatus, accepted["wa_id"])
        assert status is not None and status.status == "failed"
        assert status.callback_data == send_token(reply.id, reply.created_at)


def test_a_redelivered_message_does_not_wait_on_a_claim_the_dead_worker_still_holds(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a partition taken over at once (scale-out) brings the message back before the dead
    # worker's claim on its reply has lapsed
    reply = die_after_the_send(setup, monkeypatch)
    [accepted] = setup.channel.fake.state.sent_to(setup.phone)
    events = [e["event"] for e in redeliver(setup)]  # acknowledged, no wait for the claim
    assert "send_takeover" not in events and "duplicate_message" in events
    bus = setup.channel.platform.bus
    handed = [m.payload["message_id"] for m in bus.replay("assistant.outbound")]
    assert handed == [reply.id]  # the reply waits on the outbound queue, given back
    assert bus.consume("assistant.outbound", "assistant-outbound", "other") == []  # till the lapse
    # meanwhile the status arrives and proves the dead worker's send
    status = setup.channel.fake.state.status_delivery(accepted["wa_id"], "sent")
    assert status is not None
    post(setup.client, json.dumps(status).encode())
    drain(setup.channel, ("inbound", "status"))
    assert row(setup, reply.id).state == "sent"
    setup.clock.advance(LEASE_S + 5)  # the outbound request comes back: nothing to send
    assert setup.channel.runtime.outbox.deliver(reply.id, wait=False) == "sent"
    assert len(setup.channel.fake.state.sent_to(setup.phone)) == 1
