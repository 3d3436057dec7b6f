"""Tenants (the seed's ``MultiTenantManager``): create them, give them API keys, find the
tenant of a key, meter their usage and turn a month of it into invoice lines.

A tenant's public id is its ``slug`` (``acme-mx``); its API keys are core ``api_keys`` rows
(scopes ``campaigns:read`` and ``campaigns:write``) bound to it by ``campaigns_tenant_keys``, so
authentication stays the core's and only the binding is the product's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ssmas.campaigns.errors import Conflict, InvalidInput, NotFound
from ssmas.campaigns.tables import Tenant, TenantKey, UsageRecord
from ssmas.campaigns.tenancy.tiers import METRICS, Quotas, tier_of
from ssmas.core.security import ApiKeyRecord, create_api_key, record_audit

__all__ = [
    "TENANT_SCOPES",
    "Invoice",
    "InvoiceLine",
    "create_tenant",
    "get_tenant",
    "invoice",
    "issue_key",
    "list_tenants",
    "meter",
    "parse_month",
    "quotas_of",
    "tenant_for_key",
    "tenant_for_prefix",
    "update_tenant",
    "usage_between",
]

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
TENANT_SCOPES = ("campaigns:read", "campaigns:write")
CENT = Decimal("0.01")


def _check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise InvalidInput(
            message=f"tenant id {slug!r} must be 3-64 characters: a-z, 0-9 and inner '-'"
        )
    return slug


def create_tenant(session: Session, slug: str, name: str, tier: str) -> Tenant:
    """A new active tenant; :class:`Conflict` when the slug is taken."""
    _check_slug(slug)
    try:
        tier_of(tier)
    except ValueError as exc:
        raise InvalidInput(message=str(exc)) from None
    if not name.strip():
        raise InvalidInput(message="a tenant needs a name")
    if session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(message=f"tenant {slug!r} exists already")
    tenant = Tenant(slug=slug, name=name.strip(), tier=tier, status="active")
    session.add(tenant)
    session.flush()
    return tenant


STATUSES = ("active", "suspended")


def update_tenant(
    session: Session,
    slug: str,
    *,
    name: str | None = None,
    tier: str | None = None,
    status: str | None = None,
) -> Tenant:
    """Rename, move to another tier (its quotas and prices apply from now: the seed's
    ``scale_tenant_resources``) or suspend / reactivate a tenant (a suspended tenant's keys
    are refused with 403)."""
    tenant = get_tenant(session, slug)
    if tier is not None:
        try:
            tier_of(tier)
        except ValueError as exc:
            raise InvalidInput(message=str(exc)) from None
        tenant.tier = tier
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(message=f"status must be one of {', '.join(STATUSES)}")
        tenant.status = status
    if name is not None:
        if not name.strip():
            raise InvalidInput(message="a tenant needs a name")
        tenant.name = name.strip()
    session.flush()
    return tenant


def get_tenant(session: Session, slug: str) -> Tenant:
    """The tenant ``slug``; :class:`NotFound` (an unknown tenant) otherwise."""
    tenant = session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(message=f"no such tenant: {slug!r}")
    return tenant


def list_tenants(session: Session, *, after_id: int = 0, limit: int | None = None) -> list[Tenant]:
    """Tenants by id (those after ``after_id``; at most ``limit``)."""
    query = sa.select(Tenant).where(Tenant.id > after_id).order_by(Tenant.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def issue_key(
    session: Session,
    tenant: Tenant,
    name: str = "",
    scopes: Sequence[str] = TENANT_SCOPES,
    *,
    actor: str = "system",
) -> tuple[str, ApiKeyRecord]:
    """A new API key acting for ``tenant`` (the raw key is returned once, never stored);
    ``actor`` (who asked) goes into the audit log's ``api_key.created`` entry."""
    if any(scope in ("*", "admin") or scope.endswith(":admin") for scope in scopes):
        raise InvalidInput(message="a tenant key cannot hold an admin scope")
    raw, record = create_api_key(session, name or f"tenant:{tenant.slug}", scopes)
    session.add(TenantKey(api_key_id=record.id, tenant_id=tenant.id))
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="api_key.created",
        target=record.prefix,
        details={"name": record.name, "scopes": record.scopes, "tenant": tenant.slug},
    )
    return raw, record


def tenant_for_key(session: Session, api_key_id: int) -> Tenant | None:
    """The tenant an API key acts for, or None for a key bound to none."""
    query = (
        sa.select(Tenant)
        .join(TenantKey, TenantKey.tenant_id == Tenant.id)
        .where(TenantKey.api_key_id == api_key_id)
    )
    return session.scalar(query)


def tenant_for_prefix(session: Session, prefix: str) -> Tenant | None:
    """The tenant of the API key with ``prefix`` (the dashboard knows its user by prefix)."""
    from ssmas.core.db import ApiKey

    query = (
        sa.select(Tenant)
        .join(TenantKey, TenantKey.tenant_id == Tenant.id)
        .join(ApiKey, ApiKey.id == TenantKey.api_key_id)
        .where(ApiKey.prefix == prefix)
    )
    return session.scalar(query)


def quotas_of(tenant: Tenant) -> Quotas:
    return tier_of(tenant.tier).quotas


def meter(session: Session, tenant_id: int, metric: str, quantity: int, day: date) -> None:
    """Add ``quantity`` to the tenant's ``metric`` of ``day`` (one upsert, safe under
    concurrent requests)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if quantity <= 0:
        return
    values = {"tenant_id": tenant_id, "day": day, "metric": metric, "quantity": quantity}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(UsageRecord).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "day", "metric"],
        set_={"quantity": UsageRecord.quantity + statement.excluded.quantity},
    )
    session.execute(statement)


def usage_between(session: Session, tenant_id: int, first: date, last: date) -> dict[str, int]:
    """Each metric's total from ``first`` to ``last`` (both included); 0 when unused."""
    query = (
        sa.select(UsageRecord.metric, sa.func.sum(UsageRecord.quantity))
        .where(UsageRecord.tenant_id == tenant_id)
        .where(UsageRecord.day >= first, UsageRecord.day <= last)
        .group_by(UsageRecord.metric)
    )
    totals = dict.fromkeys(METRICS, 0)
    for metric, total in session.execute(query):
        totals[metric] = int(total or 0)
    return totals


def usage_of_tenants(
    session: Session, tenant_ids: Sequence[int], first: date, last: date
) -> dict[int, dict[str, int]]:
    """:func:`usage_between` for many tenants in one grouped query."""
    totals = {tenant_id: dict.fromkeys(METRICS, 0) for tenant_id in tenant_ids}
    if not tenant_ids:
        return totals
    query = (
        sa.select(UsageRecord.tenant_id, UsageRecord.metric, sa.func.sum(UsageRecord.quantity))
        .where(UsageRecord.tenant_id.in_(list(tenant_ids)))
        .where(UsageRecord.day >= first, UsageRecord.day <= last)
        .group_by(UsageRecord.tenant_id, UsageRecord.metric)
    )
    for tenant_id, metric, total in session.execute(query):
        totals[tenant_id][metric] = int(total or 0)
    return totals


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the month's first day; :class:`InvalidInput` otherwise."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise InvalidInput(message=f"month {text!r} must be written YYYY-MM (1970 or later)")
    return date(int(match.group(1)), int(match.group(2)), 1)


def month_end(first: date) -> date:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line: what, how many, at what unit price, for how much (EUR)."""

    item: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Invoice:
    """A tenant's month: the tier's fee and each metered metric, and the total."""

    tenant: str
    tier: str
    month: str
    currency: str
    lines: list[InvoiceLine]
    total: Decimal


def invoice(session: Session, tenant: Tenant, first: date) -> Invoice:
    """The invoice of the month starting ``first`` (usage so far for the current month)."""
    tier = tier_of(tenant.tier)
    usage = usage_between(session, tenant.id, first, month_end(first))
    lines = [InvoiceLine(f"{tier.name} plan", 1, tier.monthly_fee, tier.monthly_fee)]
    for metric in METRICS:
        price = tier.unit_prices[metric]
        amount = (price * usage[metric]).quantize(CENT, rounding=ROUND_HALF_UP)
        lines.append(InvoiceLine(metric, usage[metric], price, amount))
    total = sum((line.amount for line in lines), Decimal("0.00"))
    return Invoice(tenant.slug, tier.name, first.strftime("%Y-%m"), "EUR", lines, total)
