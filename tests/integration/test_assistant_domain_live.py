"""The trained domain through the live path: webhook → queues → text pipeline with the real
brain (``brain_from_settings``: the NLU trained by ``train_assistant``, the dialogue policy and
the knowledge base) → the reply the Graph API fake records.

Covers the three questions of issue #19, a form that asks for its missing slot in the
conversation's language and answers once it is given (and, interrupted by a question, answers
it and asks again), the offer of a person after a second message the assistant cannot place
(yes hands off, no keeps the bot), and a follow-up read in the light of the previous question.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.assistant.nlu import train_assistant
from ssmas.assistant.seed_brain import SeedBrain, brain_from_settings
from ssmas.assistant.tables import ChatMessage, Handoff
from ssmas.bootstrap import create_app
from ssmas.core.db import UnitOfWork
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import Channel, open_channel, text_delivery
from tests.integration.assistant_fixtures import deliver
from tests.integration.test_assistant_nlu import SHARED, _cut_corpora

pytestmark = pytest.mark.skipif(
    not (SHARED / "intents").is_dir(), reason=f"shared NLU corpora not found at {SHARED}"
)


@pytest.fixture(scope="module")
def brain(tmp_path_factory: pytest.TempPathFactory) -> SeedBrain:
    root = _cut_corpora(tmp_path_factory.mktemp("corpora"))
    trained = Settings(profile="test", data_dir=tmp_path_factory.mktemp("model"))
    train_assistant(trained, use_embeddings=False, register_model=False, root=root)
    return brain_from_settings(trained)


@pytest.fixture()
def live(settings: Settings, brain: SeedBrain) -> Iterator[tuple[Channel, TestClient]]:
    with (
        open_channel(settings, brain=brain) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        yield channel, client


def _say(live: tuple[Channel, TestClient], phone: str, text: str, wa_id: str) -> str:
    channel, client = live
    before = len(channel.fake.state.sent_to(phone))
    deliver(client, text_delivery(phone, text, wa_id))
    channel.drain()
    sent = channel.fake.state.sent_to(phone)
    assert len(sent) == before + 1, f"no reply to {text!r}"
    body: str = sent[-1]["body"]["text"]["body"]
    return body


def test_the_issue_questions_get_answers_in_their_language(
    live: tuple[Channel, TestClient],
) -> None:
    payout = _say(live, "16505550101", "What is the minimum payout?", "wamid.d1")
    assert "100 EUR" in payout and "Source:" in payout
    ads = _say(live, "16505550102", "¿Cómo configuro ads.txt?", "wamid.d2")
    assert "ads.txt" in ads and "Fuente:" in ads
    thanks = _say(live, "16505550103", "Muchas gracias, todo perfecto", "wamid.d3")
    assert thanks == "¡Gracias a ti! Si necesitas algo más, escríbeme aquí."
    channel, _ = live
    with UnitOfWork(channel.platform.session_factory) as uow:
        intents = uow.session.scalars(
            sa.select(ChatMessage.intent)
            .where(ChatMessage.direction == "in")
            .order_by(ChatMessage.id)
        ).all()
    assert intents == ["payment_threshold", "ads_txt", "thank"]


def test_a_form_asks_for_the_missing_month_then_answers(
    live: tuple[Channel, TestClient],
) -> None:
    phone = "16505550104"
    ask = _say(live, phone, "Necesito la factura, por favor", "wamid.f1")
    assert ask == "¿De qué mes necesitas la factura?"
    done = _say(live, phone, "marzo", "wamid.f2")
    assert done.startswith("La factura de marzo está en Pagos > Facturas")
    channel, _ = live
    with UnitOfWork(channel.platform.session_factory) as uow:
        stored = uow.session.scalars(
            sa.select(ChatMessage.intent)
            .where(ChatMessage.direction == "in")
            .order_by(ChatMessage.id)
        ).all()
    assert stored == ["invoice", "invoice"]  # "marzo" was read as the form's answer


def test_english_form_and_a_short_answer_keep_the_conversation_language(
    live: tuple[Channel, TestClient],
) -> None:
    phone = "16505550105"
    ask = _say(live, phone, "I want to change my payment method", "wamid.g1")
    assert ask == "How would you like to be paid: bank transfer, PayPal or Payoneer?"
    done = _say(live, phone, "Payoneer", "wamid.g2")
    assert done.startswith("Noted: you want to be paid by Payoneer.")


def test_second_message_it_cannot_place_offers_a_person_and_yes_hands_off(
    live: tuple[Channel, TestClient],
) -> None:
    phone = "16505550106"
    first = _say(live, phone, "¿Quién ganó el mundial de 1986?", "wamid.h1")
    assert first.startswith("No estoy seguro de haberte entendido")
    second = _say(live, phone, "¿Y el de 1990?", "wamid.h2")
    assert second.endswith("¿Quieres que te pase con una persona del equipo?")
    third = _say(live, phone, "sí, por favor", "wamid.h3")
    assert "especialistas" in third  # the hand-off line
    channel, _ = live
    with UnitOfWork(channel.platform.session_factory) as uow:
        handoff = uow.session.scalars(sa.select(Handoff)).one()
    assert "Domain rule: hand off to a person" in (handoff.reasons or [])


def test_a_document_loaded_into_the_knowledge_base_is_answered_with_its_source(
    settings: Settings, brain: SeedBrain, tmp_path: Path
) -> None:
    from ssmas.assistant.kb import knowledge_index, load_files

    guide = tmp_path / "payments-guide.md"
    guide.write_text(
        "# Payments\n\n## Tax forms\n\nUS publishers upload a W-9 form and everyone else a "
        "W-8BEN form under Settings > Tax before the first payout is released.\n",
        encoding="utf-8",
    )
    load_files(settings, [guide], encoder=None)
    kb_brain = SeedBrain(brain.nlu, brain.knowledge, kb=knowledge_index(settings, encoder=None))
    with (
        open_channel(settings, brain=kb_brain) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        reply = _say(
            (channel, client), "16505550107", "Which tax form do I upload, W-9 or W-8BEN?", "w.k1"
        )
    assert "W-8BEN" in reply
    assert "Source: Payments / Tax forms (payments-guide.md)" in reply


def test_no_to_the_offer_keeps_the_assistant(live: tuple[Channel, TestClient]) -> None:
    phone = "16505550107"
    _say(live, phone, "What's the weather like in Paris?", "wamid.n1")
    offer = _say(live, phone, "And in Rome?", "wamid.n2")
    assert offer.endswith("Do you want me to connect you with a person from our team?")
    kept = _say(live, phone, "no, not now", "wamid.n3")
    assert kept.startswith("All right, let's keep going here.")
    channel, _ = live
    with UnitOfWork(channel.platform.session_factory) as uow:
        assert uow.session.scalars(sa.select(Handoff)).all() == []
        intents = uow.session.scalars(
            sa.select(ChatMessage.intent)
            .where(ChatMessage.direction == "in", ChatMessage.wa_id.like("wamid.n%"))
            .order_by(ChatMessage.id)
        ).all()
    assert intents[-1] == "deny"


def test_a_form_interrupted_by_a_question_resumes(live: tuple[Channel, TestClient]) -> None:
    phone = "16505550108"
    ask = _say(live, phone, "Necesito la factura, por favor", "wamid.i1")
    assert ask == "¿De qué mes necesitas la factura?"
    answer = _say(live, phone, "¿Cuál es el pago mínimo?", "wamid.i2")
    assert "100 EUR" in answer and answer.endswith("\n\n¿De qué mes necesitas la factura?")
    done = _say(live, phone, "marzo", "wamid.i3")
    assert done.startswith("La factura de marzo está en Pagos > Facturas")


def test_a_follow_up_is_read_in_context(live: tuple[Channel, TestClient]) -> None:
    phone = "16505550109"
    payout = _say(live, phone, "What is the minimum payout?", "wamid.s1")
    assert "100 EUR" in payout
    when = _say(live, phone, "And when?", "wamid.s2")
    assert when.startswith("Earnings are paid net 60")
    channel, _ = live
    with UnitOfWork(channel.platform.session_factory) as uow:
        intents = uow.session.scalars(
            sa.select(ChatMessage.intent)
            .where(ChatMessage.direction == "in", ChatMessage.wa_id.like("wamid.s%"))
            .order_by(ChatMessage.id)
        ).all()
    assert intents == ["payment_threshold", "payment_status"]
