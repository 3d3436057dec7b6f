"""Delivery receipts from the fake provider, signed callbacks, and conversions over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ssmas.campaigns.demo import run_demo_once
from ssmas.campaigns.runtime import ensure_sender
from ssmas.campaigns.sending.runtime import INBOUND_PATH, RECEIPTS_PATH, SendingRuntime
from ssmas.campaigns.sending.sender import LedgerSender
from ssmas.campaigns.sending.tables import SendRow
from ssmas.campaigns.tables import Lead
from ssmas.campaigns.tenancy import create_tenant, get_tenant, issue_key
from ssmas.core.db import UnitOfWork
from ssmas.core.platform import Platform
from ssmas.core.security import create_api_key, sign_twilio
from tests.fakes.sms_provider import AUTH_TOKEN, FakeSmsProvider
from tests.integration.campaigns_sending_support import (
    Clock,
    free_port,
    live_api,
    recipients,
    send_all,
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
    send_all(runtime)
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


def test_a_conversion_is_recorded_once_for_the_callers_tenant_only(
    served: tuple[Platform, SendingRuntime, FakeSmsProvider, str],
) -> None:
    platform, runtime, fake, base = served
    ensure_sender(platform)  # the send ledger's, as the API's start hook attaches it
    done = run_demo_once(platform, leads=200)
    assert done.launched and done.campaign.recipients > 0
    send_all(runtime)
    fake.wait_receipts()
    with UnitOfWork(platform.session_factory) as uow:
        tenant = get_tenant(uow.session, done.tenant)
        other = create_tenant(uow.session, "other-mx", "Other", "starter")
        key, _ = issue_key(uow.session, tenant)
        other_key, _ = issue_key(uow.session, other)
        operator, _ = create_api_key(uow.session, "operator", ["campaigns:write"])
        messaged = uow.session.scalars(
            sa.select(SendRow.lead_id).where(SendRow.campaign_id == done.campaign.id)
        ).all()
        outside = uow.session.scalar(
            sa.select(Lead.id).where(Lead.tenant_id == tenant.id, Lead.id.not_in(messaged))
        )
        uow.commit()
    assert outside is not None
    headers = {"X-API-Key": key}
    url = base + "/v1/campaigns/conversions"
    body = {"campaign_id": done.campaign.id, "lead_id": messaged[0]}
    first = httpx.post(url, json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    assert LedgerSender(runtime).counts(tenant.id, done.campaign.id)["converted"] == 1
    # Another tenant's key: the same campaign and lead are not found, nothing is recorded.
    foreign = httpx.post(url, json=body, headers={"X-API-Key": other_key})
    assert foreign.status_code == 404 and foreign.json()["error"] == "not_found"
    unsent = httpx.post(url, json={**body, "lead_id": outside}, headers=headers)
    assert unsent.status_code == 404 and unsent.json()["error"] == "not_found"
    missing = httpx.post(url, json={**body, "campaign_id": 2**31 - 1}, headers=headers)
    assert missing.status_code == 404
    no_tenant = httpx.post(url, json=body, headers={"X-API-Key": operator})
    assert no_tenant.status_code == 403 and no_tenant.json()["error"] == "no_tenant"
    assert httpx.post(url, json={**body, "lead_id": 0}, headers=headers).status_code == 422
    assert httpx.post(url, json=body).status_code == 401
    assert LedgerSender(runtime).counts(tenant.id, done.campaign.id)["converted"] == 1
