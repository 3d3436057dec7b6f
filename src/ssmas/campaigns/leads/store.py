"""Reading a tenant's leads and imports (always through its :class:`TenantScope`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ssmas.campaigns.errors import InvalidInput
from ssmas.campaigns.leads.importer import ImportSummary
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Lead, LeadImport

__all__ = [
    "LeadView",
    "get_import",
    "get_lead",
    "list_imports",
    "list_leads",
    "record_quality",
    "view_lead",
]


@dataclass(frozen=True, slots=True)
class LeadView:
    """A lead as shown: the number masked to its last four digits (personal data stays
    encrypted), where it is, its line type, presence flags and quality."""

    id: int
    phone_last4: str
    line_type: str | None
    lada: str | None
    city: str | None
    state: str | None
    time_zone: str
    whatsapp: bool | None
    instagram: bool | None
    facebook: bool | None
    google: bool | None
    apple: bool | None
    quality: float | None
    attribute_names: list[str]
    import_id: int | None
    created_at: datetime


def view_lead(lead: Lead) -> LeadView:
    return LeadView(
        id=lead.id,
        phone_last4=lead.phone_last4,
        line_type=lead.line_type,
        lada=lead.lada,
        city=lead.city,
        state=lead.state,
        time_zone=lead.time_zone,
        whatsapp=lead.whatsapp,
        instagram=lead.instagram,
        facebook=lead.facebook,
        google=lead.google,
        apple=lead.apple,
        quality=lead.quality,
        attribute_names=list(lead.attribute_names or []),
        import_id=lead.import_id,
        created_at=lead.created_at,
    )


def list_leads(scope: TenantScope, *, limit: int = 100, after_id: int = 0) -> list[LeadView]:
    return [view_lead(lead) for lead in scope.all(Lead, limit=limit, after_id=after_id)]


def get_lead(scope: TenantScope, lead_id: int) -> LeadView:
    return view_lead(scope.get(Lead, lead_id, "lead"))


def record_quality(scope: TenantScope, scores: dict[int, float]) -> int:
    """Store predicted quality (0-100) on this tenant's leads by id (the scorer's hand-over:
    cluster segments and ``quality`` rules read it); ids of other tenants or of no lead are
    skipped. How many leads were updated."""
    if any(not 0.0 <= score <= 100.0 for score in scores.values()):
        raise InvalidInput(message="quality scores must be from 0 to 100")
    if not scores:
        return 0
    owned = scope.session.scalars(
        scope.select(Lead, Lead.id).where(Lead.id.in_(list(scores)))
    ).all()
    if owned:
        scope.session.execute(
            sa.update(Lead),
            [{"id": lead_id, "quality": float(scores[lead_id])} for lead_id in owned],
        )
    return len(owned)


def list_imports(
    scope: TenantScope, *, limit: int = 100, after_id: int = 0, newest: bool = False
) -> list[ImportSummary]:
    rows = scope.all(LeadImport, limit=limit, after_id=after_id, newest=newest)
    summaries = [ImportSummary.of(row) for row in rows]
    for summary in summaries:
        summary.report = summary.report[:0]  # listings carry counts; one import has its rows
    return summaries


def get_import(scope: TenantScope, import_id: int) -> ImportSummary:
    return ImportSummary.of(scope.get(LeadImport, import_id, "import"))
