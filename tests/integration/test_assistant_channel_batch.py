"""The text pipeline over batches: one customer's messages keep their order and context inside
one batch, a message that fails does not take the batch with it, and the batch path stores
and sends exactly what the one-message path did (real SQLite, real HTTP to the Graph fake)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.assistant.brain import Understanding
from ssmas.assistant.events import TextMessageEvent
from ssmas.assistant.pipeline import rounds
from ssmas.assistant.tables import ChatMessage, Conversation
from ssmas.core.db import UnitOfWork
from tests.integration.assistant_channel_support import (
    Channel,
    ScriptedBrain,
    text_delivery,
)
from tests.integration.assistant_fixtures import deliver


def replies_to(channel: Channel, phone: str) -> list[tuple[str, str]]:
    return [
        (s["body"]["context"]["message_id"], s["body"]["text"]["body"])
        for s in channel.fake.state.sent_to(phone)
    ]


def event(phone: str, message_id: str) -> TextMessageEvent:
    return TextMessageEvent(
        message_id=message_id,
        business_id="b",
        phone=phone,
        text="hi",
        timestamp=datetime.now(UTC),
    )


def test_rounds_hold_one_message_per_customer_in_order() -> None:
    events = [event("a", "1"), event("b", "2"), event("a", "3"), event("a", "4"), event("c", "5")]
    assert rounds(events) == [[0, 1, 4], [2], [3]]
    assert rounds([]) == []


def test_one_customers_messages_in_one_batch_are_answered_in_order_with_context(
    client: TestClient, channel: Channel
) -> None:
    for n in range(3):
        deliver(client, text_delivery("16505551001", f"where is my order {n}", f"wamid.b{n}"))
    deliver(client, text_delivery("16505551002", "hola, mi pedido", "wamid.c0"))
    channel.drain()  # all four reach the text queue before it is consumed: one batch
    assert channel.stats.by_topic["assistant.text"] == 4
    assert replies_to(channel, "16505551001") == [
        ("wamid.b0", "[en] answer about order_status (turns 0)"),
        ("wamid.b1", "[en] answer about order_status (turns 2)"),
        ("wamid.b2", "[en] answer about order_status (turns 4)"),
    ]
    assert replies_to(channel, "16505551002") == [
        ("wamid.c0", "[es] answer about order_status (turns 0)")
    ]
    assert sorted(channel.fake.state.reads) == ["wamid.b0", "wamid.b1", "wamid.b2", "wamid.c0"]
    with UnitOfWork(channel.platform.session_factory) as uow:
        rows = uow.session.scalars(sa.select(ChatMessage).order_by(ChatMessage.id)).all()
        states = sorted((r.direction, r.state, r.attempts) for r in rows)
        assert states == [("in", "done", 0)] * 4 + [("out", "sent", 1)] * 4
        assert all(r.wa_id for r in rows)
        turns = {c.turns for c in uow.session.scalars(sa.select(Conversation))}
        assert turns == {3, 1}


class FailsOn(ScriptedBrain):
    """The scripted brain, except that one text makes it raise."""

    def __init__(self, poison: str) -> None:
        super().__init__()
        self.poison = poison

    def understand(self, text: str, hint_language: str | None) -> Understanding:
        if self.poison in text:
            raise RuntimeError("model crashed")
        return super().understand(text, hint_language)


def test_a_failing_message_is_retried_alone(client: TestClient, channel: Channel) -> None:
    channel.runtime.pipeline.brain = FailsOn("poison")
    deliver(client, text_delivery("16505552001", "where is my order", "wamid.ok1"))
    deliver(client, text_delivery("16505552002", "poison pill", "wamid.bad"))
    deliver(client, text_delivery("16505552003", "where is my order", "wamid.ok2"))
    channel.drain()
    assert [m for m, _ in replies_to(channel, "16505552001")] == ["wamid.ok1"]
    assert [m for m, _ in replies_to(channel, "16505552003")] == ["wamid.ok2"]
    assert replies_to(channel, "16505552002") == []
    assert channel.stats.failed >= 1  # nacked, so the bus tries it again (then dead-letters)
    with UnitOfWork(channel.platform.session_factory) as uow:
        stored = uow.session.scalars(sa.select(ChatMessage.wa_id)).all()
        assert "wamid.bad" not in stored
