"""Request and response bodies of the campaigns API (pydantic at the HTTP edge)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from ssmas.campaigns.audience import MAX_CLUSTERS, Condition
from ssmas.campaigns.audience.templates import MAX_TEMPLATE_CHARS
from ssmas.campaigns.tables import Tenant
from ssmas.campaigns.tenancy import Invoice, quotas_of
from ssmas.core.api.bounds import MAX_ID

__all__ = [
    "CampaignCreate",
    "ClusterCreate",
    "InvoiceOut",
    "KeyOut",
    "QuotasOut",
    "SegmentCreate",
    "TenantCreate",
    "TenantCreated",
    "TenantOut",
    "TenantUpdate",
]

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SLUG_PATTERN, description="the tenant's public id")
    name: str = Field(min_length=1, max_length=200)
    tier: Literal["starter", "growth", "enterprise"] = "starter"


class TenantUpdate(BaseModel):
    """What to change: a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    tier: Literal["starter", "growth", "enterprise"] | None = None
    status: Literal["active", "suspended"] | None = None


class QuotasOut(BaseModel):
    messages_per_day: int
    validations_per_minute: int
    experiments: int


class TenantOut(BaseModel):
    id: str
    name: str
    tier: str
    status: str
    created_at: datetime
    quotas: QuotasOut
    usage_this_month: dict[str, int]

    @classmethod
    def of(cls, tenant: Tenant, usage: dict[str, int]) -> TenantOut:
        quotas = quotas_of(tenant)
        return cls(
            id=tenant.slug,
            name=tenant.name,
            tier=tenant.tier,
            status=tenant.status,
            created_at=tenant.created_at,
            quotas=QuotasOut(
                messages_per_day=quotas.messages_per_day,
                validations_per_minute=quotas.validations_per_minute,
                experiments=quotas.experiments,
            ),
            usage_this_month=usage,
        )


class KeyOut(BaseModel):
    """A new key: ``api_key`` is shown this once and never stored."""

    tenant: str
    prefix: str
    api_key: str
    scopes: list[str]


class TenantCreated(BaseModel):
    tenant: TenantOut
    key: KeyOut


class InvoiceLineOut(BaseModel):
    item: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


class InvoiceOut(BaseModel):
    tenant: str
    tier: str
    month: str
    currency: str
    lines: list[InvoiceLineOut]
    total: Decimal

    @classmethod
    def of(cls, bill: Invoice) -> InvoiceOut:
        return cls(
            tenant=bill.tenant,
            tier=bill.tier,
            month=bill.month,
            currency=bill.currency,
            lines=[
                InvoiceLineOut(
                    item=line.item,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=line.amount,
                )
                for line in bill.lines
            ],
            total=bill.total,
        )


class SegmentCreate(BaseModel):
    """Leads meeting every rule (an empty list: every lead)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    rules: list[Condition] = Field(default_factory=list, max_length=50)


class ClusterCreate(BaseModel):
    """k-means over every lead of the tenant: ``k`` segments named ``<name> 1..k``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="Cluster", min_length=1, max_length=180)
    k: int = Field(default=4, ge=2, le=MAX_CLUSTERS)


class CampaignCreate(BaseModel):
    """A message to a segment; ``scheduled_at`` (UTC-aware) launches it then, else launch it
    with ``POST /campaigns/campaigns/{id}/launch``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    segment_id: int = Field(ge=1, le=MAX_ID)
    channel: Literal["sms", "whatsapp"] = "sms"
    template: str = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)
    scheduled_at: AwareDatetime | None = None

    @field_validator("scheduled_at")
    @classmethod
    def _bounded(cls, value: datetime | None) -> datetime | None:
        if value is not None and not datetime(1970, 1, 1, tzinfo=UTC) <= value < LATEST:
            raise ValueError("scheduled_at must be between 1970 and 9999")
        return value
