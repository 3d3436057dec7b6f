"""Opt-outs by SMS (the provider's inbound webhook) and by WhatsApp (the assistant's bus topic):
honoured by every later campaign, after a restart and after a re-import of the same number."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ssmas.assistant.events import TOPIC_TEXT, TextMessageEvent, seal
from ssmas.campaigns.sending.consent import is_opted_out
from ssmas.campaigns.sending.recipient import Recipient
from ssmas.campaigns.sending.runtime import INBOUND_PATH
from ssmas.campaigns.sending.sender import LedgerSender, Sender
from ssmas.campaigns.sending.tables import OptOut
from ssmas.campaigns.sending.whatsapp import WhatsAppReader
from ssmas.core.db import UnitOfWork
from ssmas.core.security.pii_index_keys import (
    activate_index_version,
    add_index_version,
    index_columns,
    index_usage,
    reindex_pass,
)
from ssmas.core.worker import WorkerStats, drain_once
from ssmas.settings import Settings
from tests.fakes.sms_provider import FakeSmsProvider
from tests.integration.campaigns_sending_support import (
    Clock,
    free_port,
    live_api,
    recipients,
    sending_platform,
    sending_settings,
)

TEMPLATE = "Hola {nombre}"


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def fake(clock: Clock) -> Iterator[FakeSmsProvider]:
    with FakeSmsProvider(receipts=False, clock=clock) as provider:
        yield provider


def drain(runtime: object) -> None:
    sender = Sender(runtime)  # type: ignore[arg-type]
    try:
        while sender.run_once():
            pass
    finally:
        sender.close()


@pytest.mark.parametrize(
    ("word", "backend"),
    [
        ("STOP", "sqlite"),
        ("baja", "sqlite"),
        ("Alto", "sqlite"),
        ("cancelár", "sqlite"),
        ("BAJA", "postgresql"),
    ],
)
def test_an_sms_opt_out_is_honoured_forever_across_campaigns_restarts_and_reimports(
    word: str,
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake: FakeSmsProvider,
    clock: Clock,
) -> None:
    port_no = free_port()
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    settings = sending_settings(tmp_path, fake.url, url, public_url=f"http://127.0.0.1:{port_no}")
    people = recipients(5)
    quitter = people[0]
    with sending_platform(settings, clock) as (platform, runtime):
        port = LedgerSender(runtime)
        port.enqueue(1, 1, "sms", TEMPLATE, people)
        drain(runtime)
        port.enqueue(1, 2, "sms", TEMPLATE, people)  # queued before the opt-out arrives
        with live_api(platform, port_no) as base:
            answer = fake.inbound(base + INBOUND_PATH, quitter.e164, f" {word} ")
            assert answer.status_code == 200 and "<Response>" in answer.text
            other = fake.inbound(base + INBOUND_PATH, people[1].e164, "¿hay descuento?")
            assert other.status_code == 200
        drain(runtime)
        assert fake.handset[quitter.e164] == 1  # campaign 1 only
        assert fake.handset[people[1].e164] == 2
        assert port.counts(1, 2)["opted_out"] == 1
    # A restart, a new campaign, and the same number imported again as a new lead.
    with sending_platform(_same(settings), clock, fresh=False) as (platform, runtime):
        port = LedgerSender(runtime)
        again = Recipient(lead_id=500, e164=quitter.e164, variables={"nombre": "x"})
        assert port.enqueue(1, 3, "sms", TEMPLATE, [*people[1:], again])["opted_out"] == 1
        drain(runtime)
        assert fake.handset[quitter.e164] == 1
        # Tenant 2 never messaged that phone: the opt-out was the first tenant's.
        with UnitOfWork(runtime.session_factory) as uow:
            assert is_opted_out(uow.session, runtime.cipher, 1, quitter.e164)
            assert not is_opted_out(uow.session, runtime.cipher, 2, quitter.e164)


def _same(settings: Settings) -> Settings:
    return settings.model_copy()


@pytest.mark.parametrize("word", ["STOP", "BAJA", "alto", "Cancelar"])
def test_a_whatsapp_opt_out_on_the_assistants_topic_is_honoured(
    word: str, tmp_path: Path, fake: FakeSmsProvider, clock: Clock
) -> None:
    settings = sending_settings(tmp_path, fake.url)
    people = recipients(3)
    quitter = people[2]
    with sending_platform(settings, clock) as (platform, runtime):
        port = LedgerSender(runtime)
        port.enqueue(7, 1, "sms", TEMPLATE, people)
        drain(runtime)
        # What the assistant publishes for a customer's WhatsApp message (521 + 10 digits).
        for i, (phone, text) in enumerate(
            [("52155" + quitter.e164[5:], word), ("52155" + people[0].e164[5:], "hola")]
        ):
            event = TextMessageEvent(
                message_id=f"wamid.{i}",
                business_id="106540352242922",
                phone=phone,
                text=text,
                timestamp=datetime.now(UTC),
            )
            platform.bus.publish(TOPIC_TEXT, seal(runtime.cipher, event), key=event.message_id)
        reader = WhatsAppReader(runtime)
        stats = WorkerStats()
        assert drain_once(platform.bus, reader.subscriptions(), "test", stats) == 2
        assert stats.failed == 0
        assert reader.recorded == 1
        port.enqueue(7, 2, "sms", TEMPLATE, people)
        drain(runtime)
        assert fake.handset[quitter.e164] == 1
        assert fake.handset[people[0].e164] == 2
        assert port.counts(7, 2)["opted_out"] == 1


def test_an_opt_out_from_a_phone_no_tenant_messaged_binds_every_tenant(
    tmp_path: Path, fake: FakeSmsProvider, clock: Clock
) -> None:
    port_no = free_port()
    settings = sending_settings(tmp_path, fake.url, public_url=f"http://127.0.0.1:{port_no}")
    stranger = recipients(1, start=900)[0]
    with sending_platform(settings, clock) as (platform, runtime):
        with live_api(platform, port_no) as base:
            assert fake.inbound(base + INBOUND_PATH, stranger.e164, "STOP").status_code == 200
        port = LedgerSender(runtime)
        for tenant in (1, 2, 3):
            assert port.enqueue(tenant, 1, "sms", TEMPLATE, [stranger])["opted_out"] == 1
        drain(runtime)
        assert fake.handset[stranger.e164] == 0


def test_an_opt_out_is_honoured_while_a_blind_index_rotation_is_half_done(
    tmp_path: Path, fake: FakeSmsProvider, clock: Clock
) -> None:
    settings = sending_settings(tmp_path, fake.url)
    people = recipients(3)
    quitter = people[1]
    with sending_platform(settings, clock) as (platform, runtime):
        port = LedgerSender(runtime)
        port.enqueue(4, 1, "sms", TEMPLATE, people)  # queued under blind-index version 1
        with UnitOfWork(runtime.session_factory) as uow:  # the opt-out a sender meets late
            uow.session.add(
                OptOut(
                    tenant_id=4,
                    phone_index=runtime.cipher.blind_index(quitter.e164),
                    keyword="STOP",
                    channel="sms",
                    created_at=clock(),
                )
            )
            add_index_version(uow.session, runtime.cipher, actor="t")
            activate_index_version(uow.session, 2, actor="t")
            uow.commit()
        runtime.cipher.refresh(force=True)
        engine = platform.engine
        opt_outs = [c for c in index_columns(engine) if c.table == "campaigns_opt_outs"]
        assert reindex_pass(engine, runtime.cipher, columns=opt_outs).rewritten == 1
        # the opt-out is under version 2, the queued messages still under version 1
        assert index_usage(engine, opt_outs) == {2: 1}
        drain(runtime)
        assert fake.handset[quitter.e164] == 0 and fake.handset[people[0].e164] == 1
        assert port.counts(4, 1)["opted_out"] == 1
        # a new campaign is queued under version 2 and checked against both
        assert port.enqueue(4, 2, "sms", TEMPLATE, people)["opted_out"] == 1
