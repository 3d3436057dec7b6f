"""The campaigns dashboard pages: a tenant's key sees its own imports, segments and campaigns
(with live counts), never another tenant's; an operator sees every tenant's usage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app, find_product
from ssmas.campaigns.runtime import use_sender
from ssmas.core.platform import Platform
from ssmas.core.security import create_api_key
from tests.integration.campaigns_support import MemorySender, campaigns_platform

BASE = "/dashboard/campaigns"


@pytest.fixture()
def site(tmp_path: Path) -> Iterator[tuple[TestClient, Platform]]:
    with campaigns_platform(tmp_path) as platform:
        app = create_app(platform, products=[find_product("web"), find_product("campaigns")])
        with TestClient(app) as client:
            use_sender(platform, MemorySender())
            yield client, platform


def _key(platform: Platform, scopes: list[str]) -> str:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, "operator", scopes)
        uow.commit()
    return raw


def _sign_in(client: TestClient, key: str) -> None:
    client.cookies.clear()
    answer = client.post("/login", data={"api_key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def test_pages_show_the_tenants_own_rows(site: tuple[TestClient, Platform]) -> None:
    client, platform = site
    admin = {"X-API-Key": _key(platform, ["campaigns:admin"])}
    keys = {}
    for slug in ("alpha", "bravo"):
        made = client.post("/campaigns/tenants", json={"id": slug, "name": slug}, headers=admin)
        keys[slug] = {"X-API-Key": made.json()["key"]["api_key"]}
    alpha = keys["alpha"]
    csv = b"telefono,nombre\n5512345678,Ana\n3312345678,Luis\n12,Bad\n"
    imported = client.post(
        "/campaigns/imports?filename=alpha-leads.csv", content=csv, headers=alpha
    )
    assert imported.status_code == 201
    segment = client.post("/campaigns/segments", json={"name": "Everyone-A"}, headers=alpha)
    made = client.post(
        "/campaigns/campaigns",
        json={"name": "Promo-A", "segment_id": segment.json()["id"], "template": "Hola {nombre}"},
        headers=alpha,
    )
    client.post(f"/campaigns/campaigns/{made.json()['id']}/launch", headers=alpha)
    client.post("/campaigns/segments", json={"name": "Everyone-B"}, headers=keys["bravo"])

    for page in ("tenants", "imports", "segments", "campaigns"):
        assert client.get(f"{BASE}/{page}", follow_redirects=False).status_code in (302, 303, 307)

    _sign_in(client, alpha["X-API-Key"])
    imports = client.get(f"{BASE}/imports").text
    assert "alpha-leads.csv" in imports
    report = client.get(f"{BASE}/imports/{imported.json()['import_id']}").text
    assert "too_short" in report
    segments = client.get(f"{BASE}/segments").text
    assert "Everyone-A" in segments and "Everyone-B" not in segments
    campaigns = client.get(f"{BASE}/campaigns").text
    assert "Promo-A" in campaigns and 'hx-trigger="every 5s"' in campaigns
    rows = client.get(f"{BASE}/campaigns/rows").text
    assert "Promo-A" in rows
    tenants = client.get(f"{BASE}/tenants").text
    assert "alpha" in tenants and "bravo" not in tenants
    # Another tenant's import is not found, even by its id; ?tenant= cannot switch tenants.
    bravo_import = client.post(
        "/campaigns/imports?filename=bravo.csv", content=csv, headers=keys["bravo"]
    ).json()["import_id"]
    assert client.get(f"{BASE}/imports/{bravo_import}").status_code == 404
    assert "Everyone-B" not in client.get(f"{BASE}/segments?tenant=bravo").text

    _sign_in(client, admin["X-API-Key"])
    everyone = client.get(f"{BASE}/tenants").text
    assert "alpha" in everyone and "bravo" in everyone
    assert "Everyone-B" in client.get(f"{BASE}/segments?tenant=bravo").text

    _sign_in(client, _key(platform, ["pricing:read"]))
    assert client.get(f"{BASE}/segments").status_code == 403


def test_the_tenants_page_pages_through_many_tenants(site: tuple[TestClient, Platform]) -> None:
    from ssmas.campaigns.tenancy import create_tenant, meter
    from ssmas.core.db import utcnow

    client, platform = site
    with platform.uow() as uow:
        made = [create_tenant(uow.session, f"t-{n:04d}", f"T {n}", "starter") for n in range(130)]
        meter(uow.session, made[120].id, "messages", 7, utcnow().date())
        uow.commit()
    _sign_in(client, _key(platform, ["campaigns:admin"]))
    first = client.get(f"{BASE}/tenants")
    assert first.status_code == 200
    assert "t-0000" in first.text and "t-0099" in first.text and "t-0100" not in first.text
    assert 'id="tenants-next"' in first.text
    after = first.text.split('href="/dashboard/campaigns/tenants?after=')[1].split('"')[0]
    rest = client.get(f"{BASE}/tenants", params={"after": after})
    assert "t-0100" in rest.text and "t-0129" in rest.text and "t-0099" not in rest.text
    assert 'id="tenants-next"' not in rest.text
    assert "7 / " in rest.text  # t-0120's messages today, from the grouped usage query
    assert client.get(f"{BASE}/tenants", params={"after": "-1"}).status_code == 422


def test_the_imports_page_shows_the_newest_of_many(site: tuple[TestClient, Platform]) -> None:
    from ssmas.campaigns.scope import TenantScope
    from ssmas.campaigns.tables import LeadImport
    from ssmas.campaigns.tenancy import create_tenant

    client, platform = site
    with platform.uow() as uow:
        tenant = create_tenant(uow.session, "many-imports", "Many", "starter")
        scope = TenantScope(uow.session, tenant.id)
        for n in range(250):
            scope.add(LeadImport(filename=f"file-{n:03d}.csv", status="done"))
        uow.commit()
    _sign_in(client, _key(platform, ["campaigns:admin"]))
    page = client.get(f"{BASE}/imports", params={"tenant": "many-imports"}).text
    assert "file-249.csv" in page and "file-050.csv" in page and "file-049.csv" not in page
    assert page.index("file-249.csv") < page.index("file-248.csv")  # newest first
