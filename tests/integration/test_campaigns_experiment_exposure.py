"""A campaign split by a running experiment records each recipient's exposure when the sender
really sends its message (the fake Twilio provider, SQLite and PostgreSQL): the experiment's
results count the units sent each variant's text, once, and nothing before the send."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app, find_product
from ssmas.campaigns.leads import simulated_leads_csv
from ssmas.campaigns.live.tables import ExperimentUnit
from ssmas.campaigns.sending.runtime import SendingRuntime
from ssmas.campaigns.sending.tables import SendRow
from ssmas.core.platform import Platform
from ssmas.core.security import create_api_key
from tests.fakes.sms_provider import FakeSmsProvider
from tests.integration.campaigns_sending_support import (
    Clock,
    send_all,
    sending_platform,
    sending_settings,
)

CONTROL = "Hola {nombre} de {city}: 30% este fin"
SHORT = "Hola {nombre}: 30%"


@pytest.fixture(params=["sqlite", "postgresql"])
def wired(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TestClient, Platform, SendingRuntime, FakeSmsProvider]]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    clock = Clock()
    with FakeSmsProvider(receipts=False, clock=clock) as fake:
        settings = sending_settings(tmp_path, fake.url, url, sender_batch=25)
        with sending_platform(settings, clock) as (platform, runtime):
            app = create_app(platform, products=[find_product("campaigns")])
            with TestClient(app) as client:
                yield client, platform, runtime, fake


def _tenant(client: TestClient, platform: Platform) -> dict[str, str]:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, "operator", ["campaigns:admin"])
        uow.commit()
    slug = f"exp-{uuid.uuid4().hex[:6]}"
    made = client.post(
        "/campaigns/tenants",
        json={"id": slug, "name": slug, "tier": "growth"},
        headers={"X-API-Key": raw},
    )
    assert made.status_code == 201, made.text
    return {"X-API-Key": made.json()["key"]["api_key"]}


def _split_campaign(client: TestClient, headers: dict[str, str]) -> tuple[int, int]:
    imported = client.post(
        "/campaigns/imports?filename=leads.csv",
        content=simulated_leads_csv(120, seed=5),
        headers=headers,
    )
    assert imported.status_code == 201, imported.text
    segment = client.post("/campaigns/segments", json={"name": "All"}, headers=headers).json()
    campaign = client.post(
        "/campaigns/campaigns",
        json={"name": "Hola", "segment_id": segment["id"], "template": CONTROL},
        headers=headers,
    ).json()
    experiment = client.post(
        "/campaigns/experiments",
        json={
            "key": "greeting",
            "name": "Greeting",
            "campaign_id": campaign["id"],
            "variants": [{"name": "control"}, {"name": "short", "template": SHORT}],
            "metric": {"name": "conversion"},
        },
        headers=headers,
    )
    assert experiment.status_code == 201, experiment.text
    return int(campaign["id"]), int(experiment.json()["id"])


def _units(client: TestClient, headers: dict[str, str], experiment_id: int) -> Any:
    found = client.get(f"/campaigns/experiments/{experiment_id}/results", headers=headers)
    assert found.status_code == 200, found.text
    return found.json()["units"]


def test_the_sender_records_each_recipients_exposure_to_its_variant(
    wired: tuple[TestClient, Platform, SendingRuntime, FakeSmsProvider],
) -> None:
    client, platform, runtime, fake = wired
    headers = _tenant(client, platform)
    campaign_id, experiment_id = _split_campaign(client, headers)
    launched = client.post(f"/campaigns/campaigns/{campaign_id}/launch", headers=headers)
    assert launched.status_code == 200, launched.text
    recipients = launched.json()["recipients"]
    assert recipients > 50
    assert _units(client, headers, experiment_id) == {"control": 0, "short": 0}  # not sent yet

    send_all(runtime)

    bodies = [m.body for m in fake.messages.values()]
    assert len(bodies) == recipients
    sent_short = sum(1 for b in bodies if b.endswith(": 30%"))
    sent_control = sum(1 for b in bodies if b.endswith("30% este fin"))
    assert sent_short + sent_control == recipients and sent_short > 0 and sent_control > 0
    assert _units(client, headers, experiment_id) == {
        "control": sent_control,
        "short": sent_short,
    }
    # each lead's recorded variant is the one whose text its message carried
    with platform.uow() as uow:
        leads = dict(
            uow.session.execute(
                sa.select(SendRow.lead_id, SendRow.body_enc).where(
                    SendRow.campaign_id == campaign_id
                )
            ).all()
        )
        given = dict(
            uow.session.execute(
                sa.select(ExperimentUnit.unit, ExperimentUnit.variant).where(
                    ExperimentUnit.experiment_id == experiment_id
                )
            ).all()
        )
    sent_as = {
        f"lead-{lead}": "short" if runtime.cipher.decrypt(enc).endswith(": 30%") else "control"
        for lead, enc in leads.items()
    }
    assert given == sent_as
    assert Counter(given.values()) == Counter(control=sent_control, short=sent_short)

    # nothing more to send, nothing counted twice
    send_all(runtime)
    assert _units(client, headers, experiment_id) == {
        "control": sent_control,
        "short": sent_short,
    }


def test_a_campaign_no_experiment_splits_records_no_units(
    wired: tuple[TestClient, Platform, SendingRuntime, FakeSmsProvider],
) -> None:
    client, platform, runtime, fake = wired
    headers = _tenant(client, platform)
    _campaign_id, experiment_id = _split_campaign(client, headers)
    other = client.post(
        "/campaigns/campaigns",
        json={"name": "Otra", "segment_id": _segment(client, headers), "template": "Hola {nombre}"},
        headers=headers,
    ).json()
    launched = client.post(f"/campaigns/campaigns/{other['id']}/launch", headers=headers)
    assert launched.status_code == 200, launched.text
    send_all(runtime)
    assert len(fake.messages) == launched.json()["recipients"] > 0
    assert _units(client, headers, experiment_id) == {"control": 0, "short": 0}


def _segment(client: TestClient, headers: dict[str, str]) -> int:
    listed = client.get("/campaigns/segments", headers=headers)
    assert listed.status_code == 200, listed.text
    return int(listed.json()[0]["id"])
