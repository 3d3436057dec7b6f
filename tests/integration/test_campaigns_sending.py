"""The send ledger and the sender against the fake Twilio provider (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssmas.campaigns.sending import ledger
from ssmas.campaigns.sending.provider import TwilioClient
from ssmas.campaigns.sending.runtime import SendingRuntime
from ssmas.campaigns.sending.sender import LedgerSender, Sender
from ssmas.campaigns.sending.tables import SendRow
from ssmas.core.db import UnitOfWork
from ssmas.core.platform import Platform
from tests.fakes.sms_provider import ACCOUNT_SID, AUTH_TOKEN, FakeSmsProvider
from tests.integration.campaigns_sending_support import (
    Clock,
    recipients,
    sending_platform,
    sending_settings,
)

TEMPLATE = "Hola {nombre}, 20% de descuento hoy"


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def fake(clock: Clock) -> Iterator[FakeSmsProvider]:
    with FakeSmsProvider(receipts=False, clock=clock) as provider:
        yield provider


@pytest.fixture(params=["sqlite", "postgresql"])
def wired(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeSmsProvider, clock: Clock
) -> Iterator[tuple[Platform, SendingRuntime, Clock]]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    settings = sending_settings(tmp_path, fake.url, url, sender_batch=40, lease_s=30.0)
    with sending_platform(settings, clock) as (platform, runtime):
        yield platform, runtime, clock


def drain(sender: Sender) -> None:
    while sender.run_once():
        pass


def test_each_recipient_gets_one_message_and_relaunching_queues_nobody(
    wired: tuple[Platform, SendingRuntime, Clock], fake: FakeSmsProvider
) -> None:
    _, runtime, _ = wired
    port = LedgerSender(runtime)
    people = recipients(100)
    assert port.enqueue(1, 7, "sms", TEMPLATE, people) == {
        "queued": 100,
        "opted_out": 0,
        "duplicate": 0,
    }
    assert port.counts(1, 7)["queued"] == 100
    sender = Sender(runtime)
    try:
        drain(sender)
    finally:
        sender.close()
    assert len(fake.handset) == 100
    assert set(fake.handset.values()) == {1}
    first = next(m for m in fake.messages.values() if m.to == people[0].e164)
    assert first.body == "Hola Cliente 1, 20% de descuento hoy"
    counts = port.counts(1, 7)
    assert counts["queued"] == 0 and counts["sent"] == 100
    # The same launch again, and an overlapping one: nothing new is queued or sent.
    again = port.enqueue(1, 7, "sms", TEMPLATE, people + recipients(5, start=101))
    assert again == {"queued": 5, "opted_out": 0, "duplicate": 100}
    sender = Sender(runtime)
    try:
        drain(sender)
    finally:
        sender.close()
    assert sum(fake.handset.values()) == 105
    assert port.counts(1, 8)["sent"] == 0  # another campaign's counts are its own


def test_a_missing_variable_or_unknown_channel_queues_nothing(
    wired: tuple[Platform, SendingRuntime, Clock],
) -> None:
    _, runtime, _ = wired
    port = LedgerSender(runtime)
    with pytest.raises(ledger.TemplateError, match="apellido"):
        port.enqueue(1, 9, "sms", "Hola {nombre} {apellido}", recipients(3))
    with pytest.raises(ledger.ChannelError):
        port.enqueue(1, 9, "fax", TEMPLATE, recipients(3))
    assert port.counts(1, 9)["queued"] == 0


def test_429s_and_5xx_are_retried_and_a_bad_number_fails_once(
    wired: tuple[Platform, SendingRuntime, Clock], fake: FakeSmsProvider
) -> None:
    _, runtime, clock = wired
    port = LedgerSender(runtime)
    people = recipients(10)
    bad = people[0].__class__(lead_id=99, e164="+52abc", variables={"nombre": "x"})
    port.enqueue(2, 1, "sms", TEMPLATE, [*people, bad])
    fake.refuse(2, 429)
    fake.refuse(1, 503)  # the third try of one message: it goes back to the ledger for later
    runtime.settings = runtime.settings.model_copy(update={"sender_concurrency": 1})
    sender = Sender(runtime)
    try:
        drain(sender)
        assert port.counts(2, 1)["queued"] == 1
        clock.advance(10)
        drain(sender)
    finally:
        sender.close()
    assert sum(fake.handset.values()) == 10 and set(fake.handset.values()) == {1}
    counts = port.counts(2, 1)
    assert counts["sent"] == 10 and counts["failed"] == 1
    with UnitOfWork(runtime.session_factory) as uow:
        row = uow.session.query(SendRow).filter_by(lead_id=99).one()
        assert row.state == "failed" and row.error_code == "21211"


def test_a_takeover_finds_what_a_dead_sender_sent_and_does_not_send_it_again(
    wired: tuple[Platform, SendingRuntime, Clock], fake: FakeSmsProvider
) -> None:
    _, runtime, clock = wired
    fake.honour_idempotency = False  # like Twilio: only the reconciliation can prevent a copy
    port = LedgerSender(runtime)
    port.enqueue(3, 1, "sms", TEMPLATE, recipients(30))
    dead = Sender(runtime, worker="dead")
    try:
        # The dead sender claims, marks tried and sends, but dies before recording.
        with UnitOfWork(runtime.session_factory) as uow:
            rows = ledger.claim(uow.session, "dead", now=clock(), lease_s=30.0, limit=20)
            uow.commit()
            jobs = [dead._job(row) for row in rows]
        ready = dead._apply_rules(jobs, clock())
        assert len(ready) == 20
        for job in ready[:15]:  # 15 reached the provider, 5 did not
            dead._send(job)
    finally:
        dead.close()
    assert sum(fake.handset.values()) == 15
    clock.advance(31)  # the lease lapses
    survivor = Sender(runtime, worker="survivor")
    try:
        drain(survivor)
    finally:
        survivor.close()
    assert survivor.reconciled == 15
    assert len(fake.handset) == 30 and set(fake.handset.values()) == {1}
    assert port.counts(3, 1)["sent"] == 30


def test_a_send_that_timed_out_after_the_provider_took_it_is_not_sent_again(
    wired: tuple[Platform, SendingRuntime, Clock], fake: FakeSmsProvider
) -> None:
    _, runtime, clock = wired
    fake.honour_idempotency = False
    port = LedgerSender(runtime)
    port.enqueue(6, 1, "sms", TEMPLATE, recipients(4))
    runtime.provider.close()
    runtime.provider = TwilioClient(
        fake.url, ACCOUNT_SID, AUTH_TOKEN, "+15005550006", timeout_s=0.2
    )
    fake.latency_s = 0.5  # the provider takes each message, but answers too late
    sender = Sender(runtime)
    try:
        assert sender.run_once() == 4
        assert port.counts(6, 1) == {**port.counts(6, 1), "queued": 4, "sent": 0}
        fake.latency_s = 0.0
        deadline = time.monotonic() + 10
        while fake.handset.total() < 4 and time.monotonic() < deadline:
            time.sleep(0.02)  # the provider finishes taking what it was sent
        clock.advance(10)
        drain(sender)
    finally:
        sender.close()
    assert sender.reconciled == 4
    assert len(fake.handset) == 4 and set(fake.handset.values()) == {1}
    assert port.counts(6, 1)["sent"] == 4
