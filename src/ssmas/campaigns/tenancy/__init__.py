"""Tenants, tiers, quotas and metered usage (the seed's ``MultiTenantManager``)."""

from __future__ import annotations

from ssmas.campaigns.tenancy.quotas import (
    QuotaGuard,
    check_experiments,
    check_messages,
    seconds_to_midnight,
)
from ssmas.campaigns.tenancy.tenants import (
    TENANT_SCOPES,
    Invoice,
    InvoiceLine,
    create_tenant,
    get_tenant,
    invoice,
    issue_key,
    list_tenants,
    meter,
    parse_month,
    quotas_of,
    tenant_for_key,
    tenant_for_prefix,
    update_tenant,
    usage_between,
    usage_of_tenants,
)
from ssmas.campaigns.tenancy.tiers import METRICS, TIERS, Quotas, Tier, tier_of

__all__ = [
    "METRICS",
    "TENANT_SCOPES",
    "TIERS",
    "Invoice",
    "InvoiceLine",
    "QuotaGuard",
    "Quotas",
    "Tier",
    "check_experiments",
    "check_messages",
    "create_tenant",
    "get_tenant",
    "invoice",
    "issue_key",
    "list_tenants",
    "meter",
    "parse_month",
    "quotas_of",
    "seconds_to_midnight",
    "tenant_for_key",
    "tenant_for_prefix",
    "tier_of",
    "update_tenant",
    "usage_between",
    "usage_of_tenants",
]
