"""Delivery receipts from the fake provider, signed callbacks, and conversions over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ssmas.campaigns.sending.runtime import INBOUND_PATH, RECEIPTS_PATH, SendingRuntime
from ssmas.campaigns.sending.sender import LedgerSender, Sender
from ssmas.campaigns.sending.tables import SendRow
from ssmas.core.db import UnitOfWork
from ssmas.core.platform import Platform
from ssmas.core.security import create_api_key, sign_twilio
from tests.fakes.sms_provider import AUTH_TOKEN, FakeSmsProvider
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
def served(tmp_path: Path) -> Iterator[tuple[Platform, SendingRuntime, FakeSmsProvider, str]]:
    clock = Clock()
    port = free_port()
    with FakeSmsProvider(clock=clock) as fake:
        settings = sending_settings(tmp_path, fake.url, public_url=f"http://127.0.0.1:{port}")
        with (
            sending_platform(settings, clock) as (platform, runtime),
            live_api(platform, port) as base,
        ):
            yield platform, runtime, fake, base


def test_receipts_move_rows_to_delivered_undelivered_and_failed(
    served: tuple[Platform, SendingRuntime, FakeSmsProvider, str],
) -> None:
    _, runtime, fake, _ = served
    people = recipients(20)
    fake.undeliverable = {people[0].e164, people[1].e164}
    fake.failing = {people[2].e164}
    port = LedgerSender(runtime)
    port.enqueue(1, 1, "sms", TEMPLATE, people)
    sender = Sender(runtime)
    try:
        while sender.run_once():
            pass
    finally:
        sender.close()
    fake.wait_receipts()
    assert fake.callback_errors == 0
    counts = port.counts(1, 1)
    assert counts["sent"] == 20
    assert counts["delivered"] == 17
    assert counts["failed"] == 3
    with UnitOfWork(runtime.session_factory) as uow:
        rows = uow.session.query(SendRow).filter(SendRow.state != "delivered").all()
        codes = {row.error_code for row in rows}
    assert codes == {"30003", "30008"}


def test_callbacks_must_be_signed_and_well_formed(
    served: tuple[Platform, SendingRuntime, FakeSmsProvider, str],
) -> None:
    _, _, _, base = served
    form = {"MessageSid": "SMunknown", "MessageStatus": "delivered"}
    url = base + RECEIPTS_PATH
    unsigned = httpx.post(url, data=form)
    assert unsigned.status_code == 403 and unsigned.json()["error"] == "invalid_signature"
    forged = httpx.post(url, data=form, headers={"X-Twilio-Signature": "AAAA"})
    assert forged.status_code == 403
    signed = httpx.post(
        url, data=form, headers={"X-Twilio-Signature": sign_twilio(AUTH_TOKEN, url, form)}
    )
    assert signed.status_code == 200 and signed.json() == {"status": "unknown"}
    empty = {"MessageSid": "SM1"}
    missing = httpx.post(
        url, data=empty, headers={"X-Twilio-Signature": sign_twilio(AUTH_TOKEN, url, empty)}
    )
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_receipt"
    garbled = httpx.post(url, content=b"MessageSid=\xff\xfe", headers={"X-Twilio-Signature": "x"})
    assert garbled.status_code == 400 and garbled.json()["error"] == "invalid_form"
    inbound = base + INBOUND_PATH
    assert httpx.post(inbound, data={"From": "+525512345678", "Body": "STOP"}).status_code == 403


def test_a_conversion_is_recorded_once_and_only_for_a_lead_the_campaign_messaged(
    served: tuple[Platform, SendingRuntime, FakeSmsProvider, str],
) -> None:
    platform, runtime, _, base = served
    port = LedgerSender(runtime)
    port.enqueue(4, 2, "sms", TEMPLATE, recipients(3))
    sender = Sender(runtime)
    try:
        while sender.run_once():
            pass
    finally:
        sender.close()
    with UnitOfWork(platform.session_factory) as uow:
        key, _ = create_api_key(uow.session, "crm", ["campaigns:write"])
        uow.commit()
    headers = {"X-API-Key": key}
    url = base + "/v1/campaigns/conversions"
    body = {"tenant_id": 4, "campaign_id": 2, "lead_id": 1}
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    assert port.counts(4, 2)["converted"] == 1
    other = httpx.post(url, json={**body, "lead_id": 77}, headers=headers)
    assert other.status_code == 404 and other.json()["error"] == "not_found"
    assert httpx.post(url, json={**body, "lead_id": 0}, headers=headers).status_code == 422
    assert httpx.post(url, json=body).status_code == 401
