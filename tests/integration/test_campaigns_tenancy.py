"""Tenants on SQLite and PostgreSQL: keys bound to a tenant, usage metered by upsert, monthly
invoices in Decimal, quotas refusing with a wait, and the data layer's tenant scope."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.campaigns.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import LeadImport, Tenant
from ssmas.campaigns.tenancy import (
    QuotaGuard,
    check_experiments,
    check_messages,
    create_tenant,
    get_tenant,
    invoice,
    issue_key,
    meter,
    parse_month,
    tenant_for_key,
    usage_between,
)
from ssmas.core.platform import Platform
from ssmas.core.security import list_audit, verify_api_key
from tests.integration.campaigns_support import campaigns_platform


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    with campaigns_platform(tmp_path, url) as built:
        yield built


def _slug(platform: Platform, base: str) -> str:
    # The PostgreSQL database lives for the session: make slugs unique per test.
    with platform.uow() as uow:
        taken = uow.session.scalar(sa.select(sa.func.count()).select_from(Tenant)) or 0
    return f"{base}-{taken}"


def test_tenant_keys_act_for_their_tenant_only(platform: Platform) -> None:
    with platform.uow() as uow:
        acme = create_tenant(uow.session, _slug(platform, "acme"), "Acme", "starter")
        raw, record = issue_key(uow.session, acme, actor="apikey:ops00001")
        uow.commit()
    with platform.uow() as uow:
        [entry] = list_audit(uow.session, 1, action="api_key.created")
        assert (entry.actor, entry.target) == ("apikey:ops00001", record.prefix)
        assert entry.details["tenant"] == acme.slug and raw not in str(entry.details)
        verified = verify_api_key(uow.session, raw)
        assert verified is not None and verified.id == record.id
        assert set(verified.scopes) == {"campaigns:read", "campaigns:write"}
        found = tenant_for_key(uow.session, record.id)
        assert found is not None and found.slug == acme.slug
        with pytest.raises(Conflict):
            create_tenant(uow.session, acme.slug, "Again", "growth")
        with pytest.raises(InvalidInput):
            create_tenant(uow.session, "x", "Too short", "growth")
        with pytest.raises(InvalidInput):
            create_tenant(uow.session, "fine-slug", "Bad tier", "platinum")
        with pytest.raises(InvalidInput):
            issue_key(uow.session, acme, scopes=["campaigns:admin"])
        with pytest.raises(NotFound):
            get_tenant(uow.session, "nobody-here")


def test_usage_is_metered_and_invoiced_in_decimal(platform: Platform) -> None:
    with platform.uow() as uow:
        tenant = create_tenant(uow.session, _slug(platform, "bill"), "Bill", "growth")
        for _ in range(3):
            meter(uow.session, tenant.id, "messages", 1_000, date(2026, 11, 5))
        meter(uow.session, tenant.id, "validations", 12_345, date(2026, 11, 30))
        meter(uow.session, tenant.id, "validations", 99, date(2026, 12, 1))
        uow.commit()
    with platform.uow() as uow:
        usage = usage_between(uow.session, tenant.id, date(2026, 11, 1), date(2026, 11, 30))
        assert usage == {"validations": 12_345, "leads_imported": 0, "messages": 3_000}
        bill = invoice(uow.session, tenant, parse_month("2026-11"))
    lines = {line.item: line for line in bill.lines}
    assert lines["messages"].amount == Decimal("90.00")  # 3,000 x 0.03
    assert lines["validations"].amount == Decimal("3.70")  # 12,345 x 0.0003 = 3.7035
    assert bill.total == Decimal("299.00") + Decimal("90.00") + Decimal("3.70")
    assert all(isinstance(line.amount, Decimal) for line in bill.lines)
    with pytest.raises(InvalidInput):
        parse_month("2026-13")


def test_quotas_refuse_with_a_wait(platform: Platform) -> None:
    now = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    with platform.uow() as uow:
        tenant = create_tenant(uow.session, _slug(platform, "quota"), "Quota", "starter")
        meter(uow.session, tenant.id, "messages", 900, now.date())
        uow.commit()
        check_messages(uow.session, tenant, 100, now)
        with pytest.raises(QuotaExceeded) as refused:
            check_messages(uow.session, tenant, 101, now)
        assert refused.value.status == 429
        assert refused.value.headers["Retry-After"] == "3600"
    with pytest.raises(QuotaExceeded):
        check_experiments(tenant, 2)
    guard = QuotaGuard()

    async def take() -> None:
        await guard.take_validations(tenant, 6_000)
        with pytest.raises(QuotaExceeded) as later:
            await guard.take_validations(tenant, 6_000)
        assert int(later.value.headers["Retry-After"]) >= 1
        with pytest.raises(QuotaExceeded):
            await guard.take_validations(tenant, 10_001)

    asyncio.run(take())


def test_scope_never_finds_another_tenants_rows(platform: Platform) -> None:
    with platform.uow() as uow:
        one = create_tenant(uow.session, _slug(platform, "one"), "One", "starter")
        two = create_tenant(uow.session, _slug(platform, "two"), "Two", "starter")
        mine = TenantScope(uow.session, one.id).add(LeadImport(filename="a.csv", report=[]))
        TenantScope(uow.session, two.id).add(LeadImport(filename="b.csv", report=[]))
        uow.commit()
    with platform.uow() as uow:
        theirs = TenantScope(uow.session, two.id)
        assert theirs.find(LeadImport, mine.id) is None
        with pytest.raises(NotFound):
            theirs.get(LeadImport, mine.id, "import")
        assert [row.filename for row in theirs.all(LeadImport, limit=10)] == ["b.csv"]
        assert theirs.count(LeadImport) == 1
        assert TenantScope(uow.session, one.id).get(LeadImport, mine.id, "import").id == mine.id


def test_migration_matches_the_tables(platform: Platform) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import ssmas.campaigns.live.tables
    import ssmas.campaigns.sending.tables  # noqa: F401  (every campaigns table in the metadata)
    from ssmas.core.db import Base

    with platform.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    ours = [d for d in diff if "campaigns_" in repr(d) and "remove_table" not in repr(d)]
    assert ours == []


def test_validation_quota_is_shared_through_redis(redis_url: str) -> None:
    tenant = Tenant(id=7, slug="shared", name="Shared", tier="starter", status="active")

    async def take() -> None:
        one, two = QuotaGuard("redis", redis_url), QuotaGuard("redis", redis_url)
        try:
            await one.take_validations(tenant, 7_000)
            with pytest.raises(QuotaExceeded) as refused:
                await two.take_validations(tenant, 7_000)  # another process's bucket: the same
            assert int(refused.value.headers["Retry-After"]) >= 1
            await two.take_validations(tenant, 2_000)
        finally:
            await one.close()
            await two.close()

    asyncio.run(take())
