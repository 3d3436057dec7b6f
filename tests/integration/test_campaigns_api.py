"""The campaigns API over HTTP on SQLite and PostgreSQL: tenant administration, imports with
their reports, bulk validation within the quota, segments, campaigns and their launch, and
tenant isolation: every campaigns route called with another tenant's ids answers 404, and no
list shows another tenant's rows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app, find_product
from ssmas.campaigns.leads import simulated_leads_csv
from ssmas.campaigns.runtime import use_sender
from ssmas.core.platform import Platform
from ssmas.core.security import create_api_key
from tests.integration.campaigns_support import MemorySender, campaigns_platform


@dataclass
class Api:
    client: TestClient
    platform: Platform
    admin: dict[str, str]
    sender: MemorySender


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    with campaigns_platform(tmp_path, url) as platform:
        app = create_app(platform, products=[find_product("campaigns")])
        with TestClient(app) as client:
            sender = MemorySender()
            use_sender(platform, sender)
            with platform.uow() as uow:
                raw, _ = create_api_key(uow.session, "operator", ["campaigns:admin"])
                uow.commit()
            yield Api(client, platform, {"X-API-Key": raw}, sender)


def _tenant(api: Api, base: str, tier: str = "growth") -> tuple[str, dict[str, str]]:
    slug = f"{base}-{uuid.uuid4().hex[:6]}"
    answer = api.client.post(
        "/campaigns/tenants", json={"id": slug, "name": base, "tier": tier}, headers=api.admin
    )
    assert answer.status_code == 201, answer.text
    return slug, {"X-API-Key": answer.json()["key"]["api_key"]}


def _populate(api: Api, headers: dict[str, str], seed: int) -> dict[str, int]:
    """An import, a rule segment, clusters and a launched campaign; their ids."""
    data = simulated_leads_csv(120, seed=seed)
    imported = api.client.post(
        "/campaigns/imports?filename=leads.csv", content=data, headers=headers
    )
    assert imported.status_code == 201, imported.text
    segment = api.client.post(
        "/campaigns/segments",
        json={"name": "WhatsApp", "rules": [{"field": "whatsapp", "op": "eq", "value": True}]},
        headers=headers,
    )
    assert segment.status_code == 201, segment.text
    clusters = api.client.post("/campaigns/segments/clusters", json={"k": 2}, headers=headers)
    assert clusters.status_code == 201, clusters.text
    campaign = api.client.post(
        "/campaigns/campaigns",
        json={
            "name": "Hola",
            "segment_id": segment.json()["id"],
            "channel": "sms",
            "template": "Hola {nombre} de {city}",
        },
        headers=headers,
    )
    assert campaign.status_code == 201, campaign.text
    launched = api.client.post(
        f"/campaigns/campaigns/{campaign.json()['id']}/launch", headers=headers
    )
    assert launched.status_code == 200, launched.text
    lead = api.client.get("/campaigns/leads?limit=1", headers=headers).json()[0]
    experiment = api.client.post(
        "/campaigns/experiments",
        json={
            "key": "greeting",
            "name": "Greeting",
            "variants": [{"name": "control"}, {"name": "short"}],
            "campaign_id": campaign.json()["id"],
        },
        headers=headers,
    )
    assert experiment.status_code == 201, experiment.text
    bandit = api.client.post(
        "/campaigns/bandits", json={"name": "send time", "arms": ["am", "pm"]}, headers=headers
    )
    assert bandit.status_code == 201, bandit.text
    return {
        "import_id": imported.json()["import_id"],
        "segment_id": segment.json()["id"],
        "campaign_id": campaign.json()["id"],
        "lead_id": lead["id"],
        "experiment_id": experiment.json()["id"],
        "bandit_id": bandit.json()["id"],
    }


# valid bodies for the routes that need one, so another tenant's id is what gets refused
BODIES: dict[str, dict[str, Any]] = {
    "/campaigns/experiments/{experiment_id}/assign": {"units": ["u1"]},
    "/campaigns/experiments/{experiment_id}/outcomes": {
        "outcomes": [{"unit": "u1", "metric": "conversion", "value": 1}]
    },
    "/campaigns/bandits/{bandit_id}/rewards": {"rewards": [{"arm": "am", "reward": 1}]},
}


def _tenant_routes(api: Api) -> list[tuple[str, str]]:
    """``(method, path)`` of every documented campaigns operation but the operator's."""
    paths = api.client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if path.startswith("/campaigns/") and not path.startswith("/campaigns/tenants")
    ]


def test_every_route_hides_other_tenants(api: Api) -> None:
    _, mine = _tenant(api, "mine")
    _, theirs = _tenant(api, "theirs")
    my_ids = _populate(api, mine, seed=1)
    their_ids = _populate(api, theirs, seed=2)
    with_ids = [(method, path) for method, path in _tenant_routes(api) if "{" in path]
    covered = {re.findall(r"{(\w+)}", path)[0] for _, path in with_ids}
    assert covered == {
        "import_id",
        "lead_id",
        "segment_id",
        "campaign_id",
        "experiment_id",
        "bandit_id",
    }
    for method, template in with_ids:
        path = template.format(**their_ids)
        answer = api.client.request(method, path, headers=mine, json=BODIES.get(template))
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"] == "not_found"
        if method == "GET":
            own = api.client.request(method, template.format(**my_ids), headers=mine)
            assert own.status_code == 200, (method, path)
    lists = [path for method, path in _tenant_routes(api) if "{" not in path and method == "GET"]
    assert set(lists) >= {
        "/campaigns/imports",
        "/campaigns/leads",
        "/campaigns/segments",
        "/campaigns/campaigns",
    }
    mine_only = {
        "/campaigns/imports": ("import_id", {my_ids["import_id"]}),
        "/campaigns/segments": ("id", None),
        "/campaigns/campaigns": ("id", {my_ids["campaign_id"]}),
    }
    for path, (field, expected) in mine_only.items():
        listed = api.client.get(path, headers=mine).json()
        their = api.client.get(path, headers=theirs).json()
        mine_ids = {row[field] for row in listed}
        assert not mine_ids & {row[field] for row in their}
        if expected is not None:
            assert mine_ids == expected
    my_leads = {
        row["id"] for row in api.client.get("/campaigns/leads?limit=1000", headers=mine).json()
    }
    their_leads = {
        row["id"] for row in api.client.get("/campaigns/leads?limit=1000", headers=theirs).json()
    }
    assert my_leads and their_leads and not my_leads & their_leads
    # Ids in a body are the caller's too: another tenant's segment is not found.
    borrowed = api.client.post(
        "/campaigns/campaigns",
        json={"name": "x", "segment_id": their_ids["segment_id"], "template": "Hola"},
        headers=mine,
    )
    assert borrowed.status_code == 404
    # A tenant key is no operator's, and an operator's key acts for no tenant.
    assert api.client.get("/campaigns/tenants", headers=mine).status_code == 403
    refused = api.client.get("/campaigns/leads", headers=api.admin)
    assert refused.status_code == 403 and refused.json()["error"] == "no_tenant"


def test_admin_usage_invoice_and_bad_input(api: Api) -> None:
    slug, headers = _tenant(api, "acme")
    taken = api.client.post(
        "/campaigns/tenants", json={"id": slug, "name": "again"}, headers=api.admin
    )
    assert taken.status_code == 409
    assert api.client.get("/campaigns/tenants/nobody-here", headers=api.admin).status_code == 404
    ids = _populate(api, headers, seed=3)
    me = api.client.get("/campaigns/me", headers=headers).json()
    assert me["id"] == slug and me["usage_this_month"]["leads_imported"] > 0
    assert me["usage_this_month"]["messages"] > 0
    bill = api.client.get(f"/campaigns/tenants/{slug}/invoice", headers=api.admin).json()
    assert bill["lines"][0]["amount"] == "299.00" and bill["currency"] == "EUR"
    assert api.client.get("/campaigns/me/invoice?month=2026-13", headers=headers).status_code == 422
    upgraded = api.client.patch(
        f"/campaigns/tenants/{slug}", json={"tier": "enterprise"}, headers=api.admin
    )
    assert upgraded.json()["quotas"]["messages_per_day"] == 1_000_000
    suspended = api.client.patch(
        f"/campaigns/tenants/{slug}", json={"status": "suspended"}, headers=api.admin
    )
    assert suspended.status_code == 200
    refused = api.client.get("/campaigns/me", headers=headers)
    assert refused.status_code == 403 and refused.json()["error"] == "tenant_suspended"
    api.client.patch(f"/campaigns/tenants/{slug}", json={"status": "active"}, headers=api.admin)
    assert (
        api.client.patch(
            "/campaigns/tenants/nobody-here", json={"tier": "growth"}, headers=api.admin
        ).status_code
        == 404
    )
    report = api.client.get(f"/campaigns/imports/{ids['import_id']}", headers=headers).json()
    assert report["rejected"] == len([e for e in report["report"] if e["reason"] != "duplicate"])
    again = api.client.post(f"/campaigns/campaigns/{ids['campaign_id']}/launch", headers=headers)
    assert again.status_code == 409
    shown = api.client.get(f"/campaigns/campaigns/{ids['campaign_id']}", headers=headers).json()
    assert shown["counts"]["queued"] == shown["recipients"] > 0
    missing = api.client.post(
        "/campaigns/campaigns",
        json={"name": "x", "segment_id": ids["segment_id"], "template": "Hola {apellido}"},
        headers=headers,
    )
    assert missing.status_code == 422 and "apellido" in missing.json()["message"]
    latin = "teléfono\n5512345678\n".encode("latin-1")
    bad = api.client.post("/campaigns/imports", content=latin, headers=headers)
    assert bad.status_code == 422 and "latin-1" in bad.json()["message"]
    ok = api.client.post("/campaigns/imports?encoding=latin-1", content=latin, headers=headers)
    assert ok.status_code == 201
    huge = b"phone\n" + b"5" * (2 * 1024 * 1024) + b"\n"
    assert api.client.post("/campaigns/imports", content=huge, headers=headers).status_code == 413
    bad_rule = api.client.post(
        "/campaigns/segments",
        json={"name": "x", "rules": [{"field": "whatsapp", "op": "gt", "value": 1}]},
        headers=headers,
    )
    assert bad_rule.status_code == 422


def _sample(name: str, labels: dict[str, str]) -> float:
    from ssmas.core.metrics import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_bulk_validation_within_the_quota(api: Api) -> None:
    _, headers = _tenant(api, "small", tier="starter")
    validated = _sample("ssmas_campaigns_validations_total", {"tier": "starter"})
    refusals = _sample("ssmas_campaigns_quota_refusals_total", {"quota": "validations"})
    numbers: list[Any] = ["044 55 1234 5678", {"phone": "+52 1 33 1234 5678", "whatsapp": True}]
    answer = api.client.post(
        "/campaigns/validate", json={"numbers": numbers * 2, "dedup": True}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["summary"] == {"total": 4, "valid": 4, "rejected": {}, "duplicates": 2}
    assert body["items"][0]["check"]["e164"] == "+525512345678"
    assert body["items"][1]["presence"] == {"whatsapp": True}
    big = {"numbers": ["5512345678"] * 9_000}
    assert api.client.post("/campaigns/validate", json=big, headers=headers).status_code == 200
    refused = api.client.post("/campaigns/validate", json=big, headers=headers)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"] == "quota_exceeded"
    too_many = {"numbers": ["5512345678"] * 10_001}
    assert api.client.post("/campaigns/validate", json=too_many, headers=headers).status_code == 422
    assert api.client.post("/campaigns/validate", content=b"{", headers=headers).status_code == 400
    me = api.client.get("/campaigns/me", headers=headers).json()
    assert me["usage_this_month"]["validations"] == 9_004
    after = _sample("ssmas_campaigns_validations_total", {"tier": "starter"})
    assert after - validated == 9_004
    assert _sample("ssmas_campaigns_quota_refusals_total", {"quota": "validations"}) > refusals
