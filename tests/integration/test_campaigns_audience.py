"""Segments by rules and by k-means, campaigns with checked templates, and the launch handing
recipients (E.164, variables, time zone) to the sender once, within the day's quota."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.campaigns.audience import (
    Condition,
    cluster_segments,
    create_campaign,
    create_rule_segment,
    get_campaign,
    get_segment,
    launch_campaign,
)
from ssmas.campaigns.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from ssmas.campaigns.leads import import_leads, simulated_leads_csv
from ssmas.campaigns.phone import check_many
from ssmas.campaigns.runtime import campaigns_runtime
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Lead, Tenant
from ssmas.campaigns.tenancy import create_tenant, meter
from ssmas.core.platform import Platform
from tests.integration.campaigns_support import MemorySender, campaigns_platform

NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


class Checker:
    def check(self, numbers: list[str]) -> list:  # type: ignore[type-arg]
        return check_many(numbers)


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[tuple[Platform, Tenant]]:
    with campaigns_platform(tmp_path) as platform:
        with platform.uow() as uow:
            tenant = create_tenant(uow.session, "acme", "Acme", "starter")
            uow.commit()
        import_leads(
            platform.session_factory,
            tenant.id,
            "leads.csv",
            simulated_leads_csv(400, seed=7),
            cipher=campaigns_runtime(platform).cipher,
            checker=Checker(),
        )
        yield platform, tenant


def test_rule_segments_match_their_conditions(world: tuple[Platform, Tenant]) -> None:
    platform, tenant = world
    with platform.uow() as uow:
        scope = TenantScope(uow.session, tenant.id)
        rules = [
            Condition(field="state", op="eq", value="CDMX"),
            Condition(field="whatsapp", op="eq", value=True),
        ]
        segment = create_rule_segment(scope, "CDMX on WhatsApp", rules)
        expected = uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(Lead)
            .where(Lead.state == "Ciudad de México", Lead.whatsapp.is_(True))
        )
        assert segment.size == expected and segment.size > 10
        quality = create_rule_segment(
            scope, "good", [Condition(field="quality", op="gte", value=60)]
        )
        assert 0 < quality.size < segment.size * 10
        assert get_segment(scope, segment.id).size == segment.size
    with pytest.raises(ValueError, match="operators"):
        Condition(field="whatsapp", op="gt", value=True)
    with pytest.raises(ValueError):
        Condition(field="quality", op="gte", value="high")


def test_clusters_cover_every_lead_best_quality_first(world: tuple[Platform, Tenant]) -> None:
    platform, tenant = world
    with platform.uow() as uow:
        scope = TenantScope(uow.session, tenant.id)
        total = scope.count(Lead)
        segments = cluster_segments(scope, "Auto", k=3)
        uow.commit()
    assert sum(s.size for s in segments) == total
    qualities = [s.profile["avg_quality"] for s in segments]
    assert qualities == sorted(qualities, reverse=True)
    assert segments[0].name.startswith("Auto 1 (quality")
    with platform.uow() as uow, pytest.raises(InvalidInput):
        cluster_segments(TenantScope(uow.session, tenant.id), k=50)


def test_launch_hands_recipients_once(world: tuple[Platform, Tenant]) -> None:
    platform, tenant = world
    cipher = campaigns_runtime(platform).cipher
    sender = MemorySender()
    with platform.uow() as uow:
        scope = TenantScope(uow.session, tenant.id)
        segment = create_rule_segment(
            scope, "Jalisco", [Condition(field="state", op="eq", value="jalisco")]
        )
        with pytest.raises(InvalidInput, match="apellido"):
            create_campaign(
                scope,
                name="x",
                segment_id=segment.id,
                channel="sms",
                template="Hola {apellido}",
            )
        for bad in ("Hola {nombre", "Hola {0}", "Hola {nombre!r}", "  "):
            with pytest.raises(InvalidInput):
                create_campaign(scope, name="x", segment_id=segment.id, channel="sms", template=bad)
        with pytest.raises(NotFound):
            create_campaign(scope, name="x", segment_id=10_000, channel="sms", template="Hi")
        campaign = create_campaign(
            scope,
            name="Buen Fin",
            segment_id=segment.id,
            channel="whatsapp",
            template="Hola {nombre}, ofertas en {city}",
        )
        launched = launch_campaign(
            scope, tenant, campaign.id, cipher=cipher, sender=sender, now=NOW
        )
        uow.commit()
    assert launched.status == "launched" and launched.recipients == segment.size > 0
    box = sender.sent[(tenant.id, campaign.id)]
    assert len(box) == segment.size
    one = next(iter(box.values()))
    assert one.e164.startswith("+5233") or one.e164.startswith("+52")
    assert set(one.variables) == {"nombre", "city"}
    assert one.time_zone == "America/Mexico_City"
    with platform.uow() as uow:
        scope = TenantScope(uow.session, tenant.id)
        with pytest.raises(Conflict):
            launch_campaign(scope, tenant, campaign.id, cipher=cipher, sender=sender, now=NOW)
        assert get_campaign(scope, campaign.id, sender).counts["queued"] == segment.size


def test_launch_over_the_daily_quota_is_refused(world: tuple[Platform, Tenant]) -> None:
    platform, tenant = world
    sender = MemorySender()
    with platform.uow() as uow:
        meter(uow.session, tenant.id, "messages", 990, NOW.date())
        scope = TenantScope(uow.session, tenant.id)
        everyone = create_rule_segment(scope, "all", [])
        campaign = create_campaign(
            scope, name="big", segment_id=everyone.id, channel="sms", template="Hola"
        )
        uow.commit()
    with platform.uow() as uow:
        scope = TenantScope(uow.session, tenant.id)
        with pytest.raises(QuotaExceeded) as refused:
            launch_campaign(
                scope,
                tenant,
                campaign.id,
                cipher=campaigns_runtime(platform).cipher,
                sender=sender,
                now=NOW,
            )
    assert refused.value.headers["Retry-After"] == str(9 * 3600)
    assert sender.sent == {}
