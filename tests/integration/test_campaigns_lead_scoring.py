"""Imported leads scored by the lead-quality champion: the same scores as
``POST /campaigns/quality/score`` for the same fields, provided qualities kept, rescoring
(``POST /campaigns/leads/quality``), the path without a model, and tenant isolation."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.bootstrap import create_app
from ssmas.campaigns.demo import DEMO_TENANT, ensure_quality_model, run_demo_once
from ssmas.campaigns.leads.scoring import lead_fields
from ssmas.campaigns.leads.store import record_quality
from ssmas.campaigns.product import PRODUCT
from ssmas.campaigns.quality.lifecycle import TrainConfig, train_and_decide
from ssmas.campaigns.runtime import campaigns_runtime
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Lead, Tenant
from ssmas.cli import app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.registry import registry_from_settings
from ssmas.core.security import create_api_key
from ssmas.settings import Settings, use_settings

pytestmark = pytest.mark.slow  # trains a small model and registers it in MLflow

HEADER = ["telefono", "nombre", "whatsapp", "instagram", "facebook", "google", "apple"]


def _csv(rows: list[dict[str, str]]) -> bytes:
    columns = [*HEADER, "source", "lead_age_days", "messages_opened_30d", "quality"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue().encode()


def _rows(first: int, count: int) -> list[dict[str, str]]:
    ladas = ["55", "33", "81", "999", "662", "834", "442", "222"]
    rows = []
    for i in range(count):
        lada = ladas[i % len(ladas)]
        digits = f"{first + i:0{10 - len(lada)}d}"
        rows.append(
            {
                "telefono": lada + str(2 + i % 7) + digits[1:],
                "nombre": f"n{i}",
                "whatsapp": "1" if i % 2 else "0",
                "instagram": "1" if i % 3 == 0 else "",
                "facebook": "si" if i % 4 else "no",
                "apple": "1" if i % 5 == 0 else "0",
                "source": ["referral", "event", "nonsense", ""][i % 4],
                "lead_age_days": ["30", "400", "-5", ""][i % 4],
                "messages_opened_30d": str(i % 9),
            }
        )
    return rows


def _settings(root: Path) -> Settings:
    settings = Settings(profile="test", data_dir=root / "data")
    settings = settings.model_copy(update={"rate_limit_burst": 1_000_000})
    settings.ensure_dirs()
    return settings


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scoring")
    config = TrainConfig(leads=1200, test_leads=800, folds=2, rounds=25, seed=5)
    train_and_decide(registry_from_settings(_settings(root)), config)
    return root


def _app(settings: Settings) -> Iterator[tuple[TestClient, Platform, dict[str, str]]]:
    platform = build_platform(settings)
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, "operator", ["campaigns:admin"])
        uow.commit()
    try:
        with TestClient(create_app(platform, products=[PRODUCT])) as client:
            yield client, platform, {"X-API-Key": raw}
    finally:
        platform.close()


@pytest.fixture
def scored_api(trained_root: Path) -> Iterator[tuple[TestClient, Platform, dict[str, str]]]:
    yield from _app(_settings(trained_root))


@pytest.fixture
def bare_api(tmp_path: Path) -> Iterator[tuple[TestClient, Platform, dict[str, str]]]:
    yield from _app(_settings(tmp_path))


def _tenant(client: TestClient, admin: dict[str, str]) -> tuple[str, dict[str, str]]:
    slug = f"t-{uuid.uuid4().hex[:6]}"
    answer = client.post(
        "/campaigns/tenants", json={"id": slug, "name": slug, "tier": "growth"}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    return slug, {"X-API-Key": answer.json()["key"]["api_key"]}


def _import(client: TestClient, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    answer = client.post("/campaigns/imports?filename=l.csv", content=data, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _leads(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = client.get("/campaigns/leads?limit=1000", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _stored(platform: Platform, slug: str) -> tuple[int, list[Lead]]:
    with platform.uow() as uow:
        tenant_id = uow.session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug))
        assert tenant_id is not None
        scope = TenantScope(uow.session, tenant_id)
        leads = list(uow.session.scalars(scope.select(Lead).order_by(Lead.id)))
        uow.session.expunge_all()
        return tenant_id, leads


def _route_scores(
    client: TestClient, headers: dict[str, str], platform: Platform, leads: list[Lead]
) -> list[float]:
    frame = lead_fields(leads, cipher=campaigns_runtime(platform).cipher, now=datetime.now(UTC))
    columns = {name: frame[name].tolist() for name in frame.columns}
    answer = client.post("/campaigns/quality/score", json={"columns": columns}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["quality"]  # type: ignore[no-any-return]


def test_imported_leads_get_the_routes_scores_and_keep_given_ones(scored_api: Any) -> None:
    client, platform, admin = scored_api
    slug, headers = _tenant(client, admin)
    rows = _rows(1000, 40)
    rows[0]["quality"] = "77.5"  # given in the file: kept
    summary = _import(client, headers, _csv(rows))
    assert summary["created"] == 40, summary
    assert summary["quality"].startswith("quality: 39 leads scored by lead-quality model v1")
    listed = {lead["id"]: lead["quality"] for lead in _leads(client, headers)}
    _tenant_id, stored = _stored(platform, slug)
    given = [lead for lead in stored if lead.quality == 77.5]
    assert len(given) == 1
    predicted = [lead for lead in stored if lead.id != given[0].id]
    expected = _route_scores(client, headers, platform, predicted)
    assert len(set(expected)) > 5  # the fields vary, so do the scores
    for lead, score in zip(predicted, expected, strict=True):
        assert listed[lead.id] == pytest.approx(score, abs=0.006)
    # The file's history columns reached the features (bad values fell back to defaults).
    frame = lead_fields(predicted, cipher=campaigns_runtime(platform).cipher)
    assert set(frame["source"]) == {"referral", "event", "purchased_list"}
    assert 400 in set(frame["lead_age_days"]) and frame["lead_age_days"].min() >= 0
    assert set(frame["lada"]) >= {"55", "834"}


def test_rescoring_keeps_given_qualities_unless_overwrite(scored_api: Any) -> None:
    client, platform, admin = scored_api
    slug, headers = _tenant(client, admin)
    rows = _rows(5000, 12)
    rows[3]["quality"] = "12.0"
    _import(client, headers, _csv(rows))
    with platform.uow() as uow:  # forget two predicted scores
        ids = [lead.id for lead in _stored(platform, slug)[1] if lead.quality != 12.0][:2]
        uow.session.execute(sa.update(Lead).where(Lead.id.in_(ids)).values(quality=None))
        uow.commit()
    again = client.post("/campaigns/leads/quality", headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == {"scored": 2, "considered": 2, "model_version": "1"}
    assert all(lead["quality"] is not None for lead in _leads(client, headers))
    assert 12.0 in [lead["quality"] for lead in _leads(client, headers)]
    everything = client.post("/campaigns/leads/quality?overwrite=true", headers=headers)
    assert everything.json()["scored"] == 12
    _, stored = _stored(platform, slug)
    assert 12.0 not in [lead.quality for lead in stored]
    assert [lead.quality for lead in stored] == pytest.approx(
        _route_scores(client, headers, platform, stored), abs=0.006
    )
    bad = client.post("/campaigns/leads/quality?overwrite=maybe", headers=headers)
    assert bad.status_code == 422 and "error" in bad.json()


def test_scoring_route_touches_only_the_callers_leads(scored_api: Any) -> None:
    client, platform, admin = scored_api
    slug_a, mine = _tenant(client, admin)
    slug_b, theirs = _tenant(client, admin)
    _import(client, mine, _csv(_rows(7000, 10)))
    _import(client, theirs, _csv(_rows(7000, 15)))  # the same numbers, another tenant
    their_id, their_leads = _stored(platform, slug_b)
    with platform.uow() as uow:
        scope = TenantScope(uow.session, their_id)
        record_quality(scope, {lead.id: 42.0 for lead in their_leads})
        uow.commit()
    answer = client.post("/campaigns/leads/quality?overwrite=true", headers=mine)
    assert answer.status_code == 200 and answer.json()["scored"] == 10
    assert {lead.quality for lead in _stored(platform, slug_b)[1]} == {42.0}
    assert len(_leads(client, theirs)) == 15
    assert 42.0 not in {lead.quality for lead in _stored(platform, slug_a)[1]}


def test_without_a_model_leads_are_stored_unscored(bare_api: Any) -> None:
    client, _platform, admin = bare_api
    slug, headers = _tenant(client, admin)
    rows = _rows(9000, 6)
    rows[1]["quality"] = "55"
    summary = _import(client, headers, _csv(rows))
    assert summary["created"] == 6
    assert summary["quality"].startswith("quality: no lead-quality model yet")
    assert "\n" not in summary["quality"] and slug in summary["quality"]
    assert (
        sorted(lead["quality"] is None for lead in _leads(client, headers)) == [False] + [True] * 5
    )
    answer = client.post("/campaigns/leads/quality", headers=headers)
    assert answer.status_code == 503
    assert "no lead-quality model" in answer.json()["message"]


def test_cli_import_and_score_without_then_with_a_model(tmp_path: Path, trained_root: Path) -> None:
    runner = CliRunner()
    leads = tmp_path / "leads.csv"
    leads.write_bytes(_csv(_rows(3000, 20)))
    with use_settings(_settings(tmp_path)):
        assert runner.invoke(app, ["campaigns", "tenant", "create", "bare-mx"]).exit_code == 0
        imported = runner.invoke(app, ["campaigns", "import", str(leads), "--tenant", "bare-mx"])
        assert imported.exit_code == 0, imported.output
        assert "quality: no lead-quality model yet" in imported.output
        scored = runner.invoke(app, ["campaigns", "quality", "score", "--tenant", "bare-mx"])
        assert scored.exit_code == 2 and "no lead-quality model yet" in scored.output
        nobody = runner.invoke(app, ["campaigns", "quality", "score", "--tenant", "nobody"])
        assert nobody.exit_code == 2 and "no such tenant" in nobody.output
    slug = f"cli-{uuid.uuid4().hex[:6]}"
    with use_settings(_settings(trained_root)):
        assert runner.invoke(app, ["campaigns", "tenant", "create", slug]).exit_code == 0
        imported = runner.invoke(app, ["campaigns", "import", str(leads), "--tenant", slug])
        assert imported.exit_code == 0, imported.output
        assert "quality: 20 leads scored by lead-quality model v1" in imported.output
        again = runner.invoke(app, ["campaigns", "quality", "score", "--tenant", slug])
        assert again.exit_code == 0 and "quality: 0 leads scored" in again.output
        everything = runner.invoke(
            app, ["campaigns", "quality", "score", "--tenant", slug, "--overwrite"]
        )
        assert everything.exit_code == 0, everything.output
        assert "quality: 20 leads scored" in everything.output


def test_demo_trains_a_quick_model_once_and_its_leads_get_scores(tmp_path: Path) -> None:
    platform = build_platform(_settings(tmp_path))
    try:
        assert ensure_quality_model(platform) == 1
        assert ensure_quality_model(platform) is None  # a champion exists now
        done = run_demo_once(platform, leads=200)
        assert done.imported.quality is not None
        assert "leads scored by lead-quality model v1" in done.imported.quality
        _, stored = _stored(platform, DEMO_TENANT)
        assert stored and all(lead.quality is not None for lead in stored)
        assert len({round(lead.quality or 0.0, 1) for lead in stored}) > 20
    finally:
        platform.close()
