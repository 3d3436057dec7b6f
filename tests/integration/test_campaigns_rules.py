"""The sending rules in the sender: quiet hours in the recipient's zone, the best hour per lead,
frequency caps per recipient across campaigns, and the per-tenant rate (memory and Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ssmas.campaigns.sending import ledger
from ssmas.campaigns.sending.runtime import SendingRuntime
from ssmas.campaigns.sending.sender import LedgerSender, Sender
from ssmas.campaigns.sending.tables import SendRow
from ssmas.core.db import UnitOfWork
from tests.fakes.sms_provider import FakeSmsProvider
from tests.integration.campaigns_sending_support import (
    Clock,
    recipients,
    sending_platform,
    sending_settings,
)

TEMPLATE = "Hola {nombre}"
NIGHT_MX = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 22:00 in Mexico City, 05:00 in Madrid


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def fake(clock: Clock) -> Iterator[FakeSmsProvider]:
    with FakeSmsProvider(receipts=False, clock=clock) as provider:
        yield provider


def drain(runtime: SendingRuntime) -> int:
    sender = Sender(runtime)
    claimed = 0
    try:
        while n := sender.run_once():
            claimed += n
    finally:
        sender.close()
    return claimed


def test_nothing_goes_out_in_the_recipients_quiet_hours(
    tmp_path: Path, fake: FakeSmsProvider, clock: Clock
) -> None:
    clock.now = NIGHT_MX
    mexico = recipients(3)
    madrid = recipients(2, start=10, tz="Europe/Madrid")
    with sending_platform(sending_settings(tmp_path, fake.url), clock) as (_, runtime):
        port = LedgerSender(runtime)
        port.enqueue(1, 1, "sms", TEMPLATE, mexico + madrid)
        assert drain(runtime) == 0 and not fake.handset
        clock.now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 09:00 Madrid, 02:00 Mexico
        drain(runtime)
        assert sorted(fake.handset) == sorted(r.e164 for r in madrid)
        clock.now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 09:00 Mexico
        drain(runtime)
        assert sum(fake.handset.values()) == 5 and set(fake.handset.values()) == {1}


def test_a_row_due_by_day_but_sent_late_waits_for_the_morning(
    tmp_path: Path, fake: FakeSmsProvider, clock: Clock
) -> None:
    with sending_platform(sending_settings(tmp_path, fake.url), clock) as (_, runtime):
        LedgerSender(runtime).enqueue(1, 1, "sms", TEMPLATE, recipients(2))
        clock.now = NIGHT_MX + timedelta(days=1)  # the sender only runs at 22:00 local
        assert drain(runtime) == 2 and not fake.handset
        with UnitOfWork(runtime.session_factory) as uow:
            due = {row.not_before for row in uow.session.query(SendRow)}
        assert due == {datetime(2026, 12, 8, 15, 0, tzinfo=UTC)}


def test_a_lead_is_messaged_at_the_hour_it_converted_before(
    tmp_path: Path, fake: FakeSmsProvider, clock: Clock
) -> None:
    lead = recipients(1)
    with sending_platform(sending_settings(tmp_path, fake.url), clock) as (_, runtime):
        port = LedgerSender(runtime)
        for campaign, hour_utc in ((1, 16), (2, 16), (3, 22)):  # 10:00, 10:00, 16:00 local
            clock.now = datetime(2026, 11, campaign, hour_utc, 5, tzinfo=UTC)
            port.enqueue(1, campaign, "sms", TEMPLATE, lead)
            drain(runtime)
            with UnitOfWork(runtime.session_factory) as uow:
                ledger.record_conversion(
                    uow.session, tenant_id=1, campaign_id=campaign, lead_id=1, now=clock.now
                )
                uow.commit()
        clock.now = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)  # 13:00 local
        port.enqueue(1, 4, "sms", TEMPLATE, [*lead, *recipients(1, start=50)])
        with UnitOfWork(runtime.session_factory) as uow:
            rows = {
                row.lead_id: row.not_before
                for row in uow.session.query(SendRow).filter_by(campaign_id=4)
            }
        assert rows[1] == datetime(2026, 12, 8, 16, 0, tzinfo=UTC)  # 10:00 tomorrow
        assert rows[50] == clock.now  # no history: now


def test_frequency_caps_hold_per_recipient_across_campaigns(
    tmp_path: Path, fake: FakeSmsProvider, clock: Clock
) -> None:
    settings = sending_settings(tmp_path, fake.url, cap_per_day=2, cap_per_week=3)
    people = recipients(4)
    with sending_platform(settings, clock) as (_, runtime):
        port = LedgerSender(runtime)
        for campaign in (1, 2, 3):
            port.enqueue(1, campaign, "sms", TEMPLATE, people)
            drain(runtime)
            clock.advance(600)
        assert set(fake.handset.values()) == {2}
        assert port.counts(1, 3)["capped"] == 4
        clock.advance(24 * 3600)
        port.enqueue(1, 4, "sms", TEMPLATE, people)
        port.enqueue(1, 5, "sms", TEMPLATE, people)
        drain(runtime)
        assert set(fake.handset.values()) == {3}  # the week's cap
        assert port.counts(1, 4)["sent"] + port.counts(1, 5)["sent"] == 4
        # Another tenant's caps are its own.
        port.enqueue(2, 1, "sms", TEMPLATE, people)
        drain(runtime)
        assert set(fake.handset.values()) == {4}


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_each_tenant_sends_at_its_own_rate(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake: FakeSmsProvider,
    clock: Clock,
) -> None:
    settings = sending_settings(tmp_path, fake.url, tenant_rate_per_s=0.001, tenant_burst=5)
    if backend == "redis":
        redis_url = request.getfixturevalue("redis_url")
        settings = settings.model_copy(
            update={"rate_limit_backend": "redis", "redis_url": redis_url}
        )
    with sending_platform(settings, clock) as (_, runtime):
        port = LedgerSender(runtime)
        port.enqueue(1, 1, "sms", TEMPLATE, recipients(12))
        port.enqueue(2, 1, "sms", TEMPLATE, recipients(3, start=100))
        drain(runtime)
        assert port.counts(1, 1)["sent"] == 5 and port.counts(1, 1)["queued"] == 7
        assert port.counts(2, 1)["sent"] == 3
        with UnitOfWork(runtime.session_factory) as uow:
            waiting = uow.session.query(SendRow).filter_by(tenant_id=1, state="pending").all()
        assert all(row.not_before > clock.now for row in waiting)
