"""Predicted quality for a tenant's stored leads: the lead-quality champion in batch.

A stored lead knows less than the model's raw fields (:data:`LEAD_FIELDS`); :func:`lead_fields`
maps what it has and fills the rest with documented defaults:

- ``phone_valid``: true (only validated numbers are stored); ``line_type``: the validation's,
  with a type the model does not know (toll free, pager…) or none as ``unknown``;
- ``lada``: the validation's; a lead without a catalogued LADA gets :data:`DEFAULT_LADA`;
- the five platform flags: the import's; a flag the file left empty counts as not present;
- history from the import's columns when present (``source``, ``avg_response_time_h``,
  ``validation_count``, ``days_since_last_validation``, ``lead_age_days``,
  ``messages_opened_30d``, ``links_clicked_30d``; a value out of the API's bounds or unreadable
  falls back to the default), else :data:`HISTORY_DEFAULTS`; ``lead_age_days`` defaults to the
  days since the lead was stored and ``days_since_last_validation`` to the days since it was last
  imported; ``validated_hour`` / ``validated_weekday`` are those of the lead's last import in its
  own time zone.

:func:`score_stored_leads` scores a tenant's leads in chunks of :data:`CHUNK` through the
scorer's batch path and stores the scores with ``record_quality``, one transaction a chunk. A
lead whose quality is already set (given in its file, or scored before) keeps it unless
``overwrite`` is asked: the table does not record where a quality came from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from ssmas.campaigns.leads.store import record_quality
from ssmas.campaigns.quality.fast import Scores
from ssmas.campaigns.quality.features import (
    LEAD_FIELDS,
    LINE_TYPES,
    PLATFORMS,
    SOURCES,
    LeadFeatureError,
    lada_geography,
    lead_matrix,
)
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Lead
from ssmas.core.db import UnitOfWork
from ssmas.core.platform import Platform
from ssmas.core.security.pii import PiiCipher

__all__ = [
    "CHUNK",
    "DEFAULT_LADA",
    "HISTORY_DEFAULTS",
    "LeadScorer",
    "ScoringOutcome",
    "lead_fields",
    "no_model_line",
    "score_stored_leads",
    "score_tenant_leads",
]

CHUNK = 10_000
# A lead with no catalogued LADA is placed in Ciudad Victoria's (a state capital of an
# average-income state: tier 2, economic index 1.0), neither metropolitan nor remote.
DEFAULT_LADA = "834"
HISTORY_DEFAULTS: dict[str, Any] = {
    "source": "purchased_list",  # an imported file is a list unless it says otherwise
    "avg_response_time_h": 4.0,  # the simulator's median
    "validation_count": 1,  # this import's validation
    "messages_opened_30d": 0,  # nothing sent yet
    "links_clicked_30d": 0,
}
# The numeric history columns an import may carry, with the API's bounds (schemas.FIELD_TYPES).
_NUMERIC_BOUNDS: dict[str, tuple[float, float]] = {
    "avg_response_time_h": (0.0, 720.0),
    "validation_count": (1, 100_000),
    "days_since_last_validation": (0, 36_500),
    "lead_age_days": (0, 36_500),
    "messages_opened_30d": (0, 100_000),
    "links_clicked_30d": (0, 100_000),
}
HISTORY_COLUMNS = frozenset({"source", *_NUMERIC_BOUNDS})
Progress = Callable[[int, int], None]
_log = structlog.get_logger(__name__)


class LeadScorer(Protocol):
    """What scoring needs of a model (``FastScorer`` is one)."""

    version: str

    def score(self, x: Any) -> Scores: ...


def _history(lead: Any, cipher: PiiCipher | None) -> dict[str, Any]:
    """The history columns the lead's import carried, parsed and bounded (others dropped)."""
    names = set(lead.attribute_names or ()) & HISTORY_COLUMNS
    if not names or cipher is None or not lead.attributes_enc:
        return {}
    attributes = json.loads(cipher.decrypt(lead.attributes_enc))
    found: dict[str, Any] = {}
    source = str(attributes.get("source", "")).strip().lower()
    if source in SOURCES:
        found["source"] = source
    for name, (low, high) in _NUMERIC_BOUNDS.items():
        try:
            value = float(str(attributes.get(name, "")).strip())
        except ValueError:
            continue
        if math.isfinite(value) and low <= value <= high:
            found[name] = value if name == "avg_response_time_h" else int(value)
    return found


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _days(now: datetime, then: datetime) -> int:
    return max(0, min(36_500, (now - then).days))


def lead_fields(
    leads: Sequence[Any], *, cipher: PiiCipher | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """The model's raw fields (:data:`LEAD_FIELDS`, in order) for stored leads (``Lead``
    objects or rows of their columns), with the module's defaults for what a lead lacks."""
    now = now or datetime.now(UTC)
    geography = lada_geography()
    rows = []
    for lead in leads:
        local = lead.updated_at.astimezone(_zone(lead.time_zone))
        row: dict[str, Any] = {
            "phone_valid": True,
            "line_type": lead.line_type if lead.line_type in LINE_TYPES else "unknown",
            "lada": lead.lada if lead.lada in geography else DEFAULT_LADA,
            **{f"{p}_active": bool(getattr(lead, p)) for p in PLATFORMS},
            **HISTORY_DEFAULTS,
            "validated_hour": local.hour,
            "validated_weekday": local.weekday(),
            "days_since_last_validation": _days(now, lead.updated_at),
            "lead_age_days": _days(now, lead.created_at),
        }
        row.update(_history(lead, cipher))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(LEAD_FIELDS))
    if frame.empty:
        return frame
    for name in ("validated_hour", "validated_weekday", "validation_count",
                 "days_since_last_validation", "lead_age_days", "messages_opened_30d",
                 "links_clicked_30d"):  # fmt: skip
        frame[name] = frame[name].astype(np.int64)
    frame["avg_response_time_h"] = frame["avg_response_time_h"].astype(np.float64)
    return frame


class ScoringOutcome:
    """How many leads were scored, by which model version, of how many considered."""

    def __init__(self, scored: int, considered: int, version: str) -> None:
        self.scored, self.considered, self.version = scored, considered, version

    def line(self) -> str:
        return f"quality: {self.scored:,} leads scored by lead-quality model v{self.version}"


# The columns scoring reads: plain rows, not ORM objects (a third of the time otherwise).
_COLUMNS = (Lead.id, Lead.line_type, Lead.lada, Lead.time_zone, *(getattr(Lead, p) for p in
            PLATFORMS), Lead.attribute_names, Lead.attributes_enc, Lead.created_at,
            Lead.updated_at)  # fmt: skip


def _chunk_query(scope: TenantScope, after: int, overwrite: bool) -> sa.Select[Any]:
    query = scope.select(Lead, *_COLUMNS).where(Lead.id > after)
    if not overwrite:
        query = query.where(Lead.quality.is_(None))
    return query.order_by(Lead.id).limit(CHUNK)


def score_stored_leads(
    session_factory: sessionmaker[Session],
    tenant_id: int,
    scorer: LeadScorer,
    *,
    cipher: PiiCipher | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ScoringOutcome:
    """Score the tenant's leads without a quality (every lead with ``overwrite``) and store
    the scores; each chunk commits on its own."""
    with UnitOfWork(session_factory) as uow:
        scope = TenantScope(uow.session, tenant_id)
        count = scope.select(Lead, sa.func.count()).select_from(Lead)
        if not overwrite:
            count = count.where(Lead.quality.is_(None))
        total = int(uow.session.scalar(count) or 0)
    after, scored = 0, 0
    if progress is not None:
        progress(0, total)
    while True:
        with UnitOfWork(session_factory) as uow:
            scope = TenantScope(uow.session, tenant_id)
            leads = uow.session.execute(_chunk_query(scope, after, overwrite)).all()
            if not leads:
                break
            after = leads[-1].id
            frame = lead_fields(leads, cipher=cipher, now=now)
            quality = scorer.score(lead_matrix(frame)).quality
            scored += record_quality(
                scope, {lead.id: float(q) for lead, q in zip(leads, quality, strict=True)}
            )
            uow.commit()
        if progress is not None:
            progress(min(scored, total), max(total, scored))
    return ScoringOutcome(scored, total, scorer.version)


def no_model_line(tenant: str) -> str:
    return (
        "quality: no lead-quality model yet, leads stored unscored (run `ssmas campaigns "
        f"quality train`, then `ssmas campaigns quality score --tenant {tenant}`)"
    )


def score_tenant_leads(
    platform: Platform,
    tenant_id: int,
    tenant_slug: str,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> tuple[ScoringOutcome | None, str]:
    """Score a tenant's leads with the platform's lead-quality champion: the outcome (``None``
    when there is no model yet) and the one line an import report or a command prints."""
    from ssmas.campaigns.quality.runtime import quality_runtime
    from ssmas.campaigns.runtime import campaigns_runtime

    runtime = quality_runtime(platform)
    runtime.maybe_refresh()
    scorer = runtime.scorer
    if scorer is None:
        return None, no_model_line(tenant_slug)
    try:
        outcome = score_stored_leads(
            platform.session_factory,
            tenant_id,
            scorer,
            cipher=campaigns_runtime(platform).cipher,
            overwrite=overwrite,
            progress=progress,
        )
    except LeadFeatureError as exc:  # the leads stay stored; the line says why not scored
        _log.warning("campaigns.lead_scoring_failed", tenant_id=tenant_id, error=str(exc)[:300])
        return None, f"quality: leads not scored: {str(exc)[:200]}"
    return outcome, outcome.line()
