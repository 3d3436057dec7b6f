"""Lead imports: validation, dedup per tenant, rejected rows reported, bad files refused clearly,
and a file that breaks half-way keeping its good rows."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.campaigns.leads import LeadFileError, import_leads, simulated_leads_csv
from ssmas.campaigns.leads.store import get_import, list_leads
from ssmas.campaigns.phone import check_many
from ssmas.campaigns.runtime import campaigns_runtime
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Lead, Tenant
from ssmas.campaigns.tenancy import create_tenant, usage_between
from ssmas.core.db import utcnow
from ssmas.core.platform import Platform
from tests.integration.campaigns_support import campaigns_platform


class Checker:
    def check(self, numbers: list[str]) -> list:  # type: ignore[type-arg]
        return check_many(numbers)


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[Platform]:
    with campaigns_platform(tmp_path) as built:
        yield built


def _tenant(platform: Platform, slug: str) -> int:
    with platform.uow() as uow:
        tenant = create_tenant(uow.session, slug, slug.title(), "growth")
        uow.commit()
        return tenant.id


def _import(platform: Platform, tenant_id: int, data: bytes, name: str = "leads.csv", **kw):  # type: ignore[no-untyped-def]
    cipher = campaigns_runtime(platform).cipher
    return import_leads(
        platform.session_factory, tenant_id, name, data, cipher=cipher, checker=Checker(), **kw
    )


def test_simulated_file_is_validated_deduplicated_and_reported(platform: Platform) -> None:
    tenant = _tenant(platform, "acme")
    data = simulated_leads_csv(600, seed=3)
    seen: list[tuple[int, int]] = []
    summary = _import(platform, tenant, data, progress=lambda d, t: seen.append((d, t)))
    assert summary.status == "done"
    assert summary.rows == 600
    assert summary.created + summary.duplicates + summary.rejected == 600
    assert summary.created > 450 and summary.rejected > 10 and summary.duplicates > 5
    reasons = Counter(entry["reason"] for entry in summary.report)
    assert reasons["duplicate"] == summary.duplicates
    assert set(reasons) <= {"duplicate", "empty", "too_short", "non_digit", "bad_country",
                            "non_geographic", "invalid"}  # fmt: skip
    assert seen and seen[-1][0] == 600
    cipher = campaigns_runtime(platform).cipher
    with platform.uow() as uow:
        leads = uow.session.scalars(sa.select(Lead).where(Lead.tenant_id == tenant)).all()
        assert len(leads) == summary.created
        for lead in leads[:50]:
            e164 = cipher.decrypt(lead.phone_enc)
            assert e164.startswith("+52") and len(e164) == 13 and e164[-4:] == lead.phone_last4
            assert lead.phone_index == cipher.blind_index(e164)
            assert lead.city and lead.state and lead.time_zone.startswith("America/")
            assert "nombre" in lead.attribute_names
            assert json.loads(cipher.decrypt(lead.attributes_enc or ""))["nombre"]
        usage = usage_between(uow.session, tenant, utcnow().date(), utcnow().date())
    assert usage["leads_imported"] == summary.created
    assert usage["validations"] == 600


def test_reimport_updates_and_other_tenants_are_apart(platform: Platform) -> None:
    one, two = _tenant(platform, "one"), _tenant(platform, "two")
    data = b"telefono,whatsapp\n044 55 1234 5678,0\n+52 1 33 1234 5678,\n"
    first = _import(platform, one, data)
    assert (first.created, first.updated) == (2, 0)
    again = _import(platform, one, b"phone,whatsapp\n5512345678,1\n")
    assert (again.created, again.updated) == (0, 1)
    other = _import(platform, two, data)
    assert other.created == 2
    with platform.uow() as uow:
        leads = list_leads(TenantScope(uow.session, one))
        assert len(leads) == 2
        cdmx = next(lead for lead in leads if lead.lada == "55")
        assert cdmx.whatsapp is True and cdmx.state == "Ciudad de México"
        assert cdmx.time_zone == "America/Mexico_City"
        assert len(list_leads(TenantScope(uow.session, two))) == 2


def test_latin1_bom_and_xlsx(platform: Platform) -> None:
    tenant = _tenant(platform, "enc")
    latin = "Teléfono;Nombre\n6641234567;José Peña\n".encode("latin-1")
    with pytest.raises(LeadFileError, match="latin-1"):
        _import(platform, tenant, latin)
    done = _import(platform, tenant, latin, encoding="latin-1")
    assert done.created == 1
    bom = "\ufeffphone,nombre\n8112345678,Ana\n".encode()
    assert _import(platform, tenant, bom).created == 1
    with platform.uow() as uow:
        tijuana = uow.session.scalar(sa.select(Lead).where(Lead.lada == "664"))
        assert tijuana is not None and tijuana.time_zone == "America/Tijuana"

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Celular", "Nombre", "WhatsApp"])
    sheet.append([3312349876, "Lupe", 1])
    sheet.append(["12", "Bad", 0])
    buffer = io.BytesIO()
    book.save(buffer)
    xlsx = _import(platform, tenant, buffer.getvalue(), name="leads.xlsx")
    assert (xlsx.created, xlsx.rejected) == (1, 1)
    assert xlsx.report == [{"row": 3, "reason": "too_short", "column": "celular"}]


def test_bad_rows_are_rejected_alone(platform: Platform) -> None:
    tenant = _tenant(platform, "rows")
    huge = "x" * (10 * 1024 * 1024)
    data = (
        "phone,nombre,whatsapp,quality\n"
        "5512345671,Ok,1,50\n"
        f'5512345672,"{huge}",1,50\n'
        "5512345673,Flag,maybe,50\n"
        "5512345674,Quality,1,150\n"
        "5512345675,Extra,1,50,surplus\n"
        "5512345676,Ok,0,\n"
    ).encode()
    summary = _import(platform, tenant, data)
    assert summary.status == "done"
    assert summary.created == 2
    assert [(e["row"], e["reason"], e["column"]) for e in summary.report] == [
        (3, "field_too_long", "nombre"),
        (4, "bad_flag", "whatsapp"),
        (5, "bad_quality", "quality"),
        (6, "extra_fields", None),
    ]


def test_broken_file_keeps_the_rows_before_the_break(platform: Platform) -> None:
    tenant = _tenant(platform, "broken")
    data = b'phone,nombre\n5512345671,Uno\n5512345672,"Dos"x\n5512345673,Tres\n'
    summary = _import(platform, tenant, data)
    assert summary.status == "failed"
    assert summary.error is not None and summary.error.startswith("row 3: malformed CSV")
    assert summary.created == 1
    with platform.uow() as uow:
        assert get_import(TenantScope(uow.session, tenant), summary.import_id).status == "failed"
        count = uow.session.scalar(
            sa.select(sa.func.count()).select_from(Lead).where(Lead.tenant_id == tenant)
        )
        assert count == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"name,email\nAna,a@b.c\n", "no phone column"),
        (b"phone,phone\n1,2\n", "repeats"),
        (b"phone\n55\x0012\n", "NUL"),
        ("phone\n5512345678\n".encode("utf-16"), "UTF-16"),
        (b"PK\x03\x04 not really a workbook", "XLSX"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(
    platform: Platform, data: bytes, message: str
) -> None:
    tenant = _tenant(platform, "refused")
    with pytest.raises(LeadFileError, match=message):
        _import(platform, tenant, data)
    with platform.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(Tenant)) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_number_added_by_another_import_meanwhile_is_updated(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ssmas.campaigns.leads import importer

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    with campaigns_platform(tmp_path, url) as platform:
        with platform.uow() as uow:
            tenant = create_tenant(uow.session, f"race-{uuid_hex()}", "Race", "growth").id
            uow.commit()
        original = importer._Import._insert_new
        raced: list[bool] = []

        def insert_after_a_rival(self, session, fresh):  # type: ignore[no-untyped-def]
            if not raced:  # the rival import commits the same number first
                raced.append(True)
                _import(platform, tenant, b"phone\n5512345678\n")
            return original(self, session, fresh)

        monkeypatch.setattr(importer._Import, "_insert_new", insert_after_a_rival)
        summary = _import(platform, tenant, b"phone,whatsapp\n5512345678,1\n3312345678,0\n")
        assert summary.status == "done"
        assert (summary.rows, summary.created, summary.updated) == (2, 1, 1)
        with platform.uow() as uow:
            leads = list_leads(TenantScope(uow.session, tenant))
        assert len(leads) == 2
        assert next(lead for lead in leads if lead.lada == "55").whatsapp is True


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def test_quality_scores_land_on_the_tenants_own_leads(platform: Platform) -> None:
    from ssmas.campaigns.errors import InvalidInput
    from ssmas.campaigns.leads.store import record_quality

    one, two = _tenant(platform, "q-one"), _tenant(platform, "q-two")
    _import(platform, one, b"phone\n5512345678\n")
    _import(platform, two, b"phone\n5512345678\n")
    with platform.uow() as uow:
        mine = list_leads(TenantScope(uow.session, one))[0].id
        theirs = list_leads(TenantScope(uow.session, two))[0].id
        scope = TenantScope(uow.session, one)
        assert record_quality(scope, {mine: 81.5, theirs: 5.0, 10_000: 50.0}) == 1
        with pytest.raises(InvalidInput):
            record_quality(scope, {mine: 101.0})
        uow.commit()
    with platform.uow() as uow:
        assert list_leads(TenantScope(uow.session, one))[0].quality == 81.5
        assert list_leads(TenantScope(uow.session, two))[0].quality is None
