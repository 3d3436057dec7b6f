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


class PrepareFailsOn(FailsOn):
    """A brain that understands a round at once (``prepare``), and raises for the whole round
    when one of its texts is the poison, as a batched model does."""

    def __init__(self, poison: str) -> None:
        super().__init__(poison)
        self.rounds: list[int] = []

    def prepare(self, items: list[tuple[str, str | None]]) -> None:
        self.rounds.append(len(items))
        if any(self.poison in text for text, _ in items):
            raise KeyError(self.poison)


def test_a_round_whose_batched_understanding_fails_answers_its_other_messages(
    client: TestClient, channel: Channel
) -> None:
    brain = PrepareFailsOn("poison")
    channel.runtime.pipeline.brain = brain
    deliver(client, text_delivery("16505556001", "where is my order", "wamid.r1"))
    deliver(client, text_delivery("16505556002", "poison pill", "wamid.rbad"))
    deliver(client, text_delivery("16505556003", "hola, mi pedido", "wamid.r2"))
    channel.drain()
    assert brain.rounds and brain.rounds[0] == 3  # one round: prepare raised for all three
    assert [m for m, _ in replies_to(channel, "16505556001")] == ["wamid.r1"]
    assert [m for m, _ in replies_to(channel, "16505556003")] == ["wamid.r2"]
    assert replies_to(channel, "16505556002") == []
    assert "wamid.rbad" not in stored_in(channel)


class FailsOnce(ScriptedBrain):
    """The scripted brain, except that it raises the first time it reads ``flaky``."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def understand(self, text: str, hint_language: str | None) -> Understanding:
        if "flaky" in text and not self.failed:
            self.failed = True
            raise RuntimeError("model timed out")
        return super().understand(text, hint_language)


def stored_in(channel: Channel) -> list[str]:
    with UnitOfWork(channel.platform.session_factory) as uow:
        query = sa.select(ChatMessage.wa_id).where(ChatMessage.direction == "in")
        return list(uow.session.scalars(query.order_by(ChatMessage.id)))


def test_after_a_failed_message_the_customers_next_ones_wait_for_it(
    client: TestClient, channel: Channel
) -> None:
    channel.runtime.pipeline.brain = FailsOnce()
    deliver(client, text_delivery("16505553001", "flaky question", "wamid.f0"))
    deliver(client, text_delivery("16505553001", "where is my order", "wamid.f1"))
    deliver(client, text_delivery("16505553001", "thanks", "wamid.f2"))
    deliver(client, text_delivery("16505553002", "where is my order", "wamid.g0"))
    # one batch: f0 fails and f1, f2 go back with it (g0 is answered); then all three come
    # back, in order
    channel.drain()
    assert channel.stats.failed == 3
    assert [m for m in stored_in(channel) if m.startswith("wamid.f")] == [
        "wamid.f0",
        "wamid.f1",
        "wamid.f2",
    ]
    assert [m for m, _ in replies_to(channel, "16505553001")] == [
        "wamid.f0",
        "wamid.f1",
        "wamid.f2",
    ]
    assert [m for m, _ in replies_to(channel, "16505553002")] == ["wamid.g0"]


def test_a_message_that_keeps_failing_does_not_take_the_next_ones_with_it(
    client: TestClient, channel: Channel
) -> None:
    channel.runtime.pipeline.brain = FailsOn("poison")
    deliver(client, text_delivery("16505554001", "poison pill", "wamid.p0"))
    deliver(client, text_delivery("16505554001", "where is my order", "wamid.p1"))
    for _ in range(10):  # each pass redelivers both, until the poison is dead-lettered
        channel.drain()
        if "wamid.p1" in stored_in(channel):
            break
    assert stored_in(channel) == ["wamid.p1"]  # answered on its last allowed delivery
    assert [m for m, _ in replies_to(channel, "16505554001")] == ["wamid.p1"]
    dead = channel.platform.bus.replay("assistant.text.dlq") + [
        m for k in range(1, 8) for m in channel.platform.bus.replay(f"assistant.text.p{k}.dlq")
    ]
    assert len(dead) == 1  # the poison alone
