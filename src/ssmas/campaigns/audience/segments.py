"""Segments (the seed's ``_create_intelligent_segments``): by rules, evaluated by the database
whenever the segment is used, or by k-means over each lead's platform presence, line, metro
area and, when the tenant's leads carry one, predicted quality; one segment per cluster, named
by its average quality, with its members stored."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

from ssmas.campaigns.audience.rules import Condition, where_clauses
from ssmas.campaigns.errors import InvalidInput
from ssmas.campaigns.phone import PLATFORMS
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Lead, Segment, SegmentMember

__all__ = [
    "MAX_CLUSTERS",
    "SegmentView",
    "audience_query",
    "cluster_segments",
    "create_rule_segment",
    "get_segment",
    "list_segments",
]

MAX_CLUSTERS = 12
METRO_LADAS = ("55", "56", "33", "81")
_FEATURE_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    Lead.id,
    Lead.whatsapp,
    Lead.instagram,
    Lead.facebook,
    Lead.google,
    Lead.apple,
    Lead.quality,
    Lead.lada,
    Lead.line_type,
    Lead.state,
)


@dataclass(frozen=True, slots=True)
class SegmentView:
    id: int
    name: str
    kind: str
    rules: list[dict[str, Any]]
    profile: dict[str, Any]
    size: int
    created_at: datetime


def _view(segment: Segment) -> SegmentView:
    return SegmentView(
        segment.id,
        segment.name,
        segment.kind,
        list(segment.rules or []),
        dict(segment.profile or {}),
        segment.size,
        segment.created_at,
    )


def audience_query(scope: TenantScope, segment: Segment) -> sa.Select[Any]:
    """``SELECT Lead`` of the segment's leads (this tenant's only), by id."""
    query = scope.select(Lead)
    if segment.kind == "cluster":
        members = sa.select(SegmentMember.lead_id).where(SegmentMember.segment_id == segment.id)
        query = query.where(Lead.id.in_(members))
    else:
        rules = [Condition.model_validate(rule) for rule in segment.rules]
        query = query.where(*where_clauses(rules))
    return query.order_by(Lead.id)


def _size(scope: TenantScope, segment: Segment) -> int:
    counted = sa.select(sa.func.count()).select_from(audience_query(scope, segment).subquery())
    return int(scope.session.scalar(counted) or 0)


def create_rule_segment(scope: TenantScope, name: str, rules: list[Condition]) -> SegmentView:
    """A segment of the leads meeting every rule (none: every lead); sized now, evaluated again
    whenever it is used."""
    segment = scope.add(
        Segment(
            name=_name(name),
            kind="rules",
            rules=[rule.model_dump(mode="json") for rule in rules],
            profile={},
        )
    )
    segment.size = _size(scope, segment)
    scope.session.flush()
    return _view(segment)


def _name(name: str) -> str:
    if not name.strip() or len(name) > 200:
        raise InvalidInput(message="a segment needs a name of 1 to 200 characters")
    return name.strip()


def _features(rows: list[Any]) -> tuple[np.ndarray, bool]:
    qualities = [row.quality for row in rows if row.quality is not None]
    with_quality = bool(qualities)
    mean_quality = float(np.mean(qualities)) if qualities else 0.0
    matrix = []
    for row in rows:
        flags = [0.5 if getattr(row, p) is None else float(getattr(row, p)) for p in PLATFORMS]
        features = [
            *flags,
            sum(flags),
            1.0 if row.lada in METRO_LADAS else 0.0,
            1.0 if row.line_type == "mobile" else 0.0,
        ]
        if with_quality:
            features.append((row.quality if row.quality is not None else mean_quality) / 100)
        matrix.append(features)
    return np.asarray(matrix, dtype=float), with_quality


def _profile(rows: list[Any], with_quality: bool) -> dict[str, Any]:
    qualities = [row.quality for row in rows if row.quality is not None]
    states = Counter(row.state for row in rows if row.state)
    return {
        "avg_quality": round(float(np.mean(qualities)), 2) if qualities else None,
        "platform_share": {
            p: round(sum(1 for row in rows if getattr(row, p)) / len(rows), 3) for p in PLATFORMS
        },
        "top_states": [state for state, _ in states.most_common(3)],
        "by_quality": with_quality,
    }


def cluster_segments(
    scope: TenantScope, name: str = "Cluster", *, k: int = 4, seed: int = 16
) -> list[SegmentView]:
    """Cluster every lead of the tenant into ``k`` segments (fewer when there are fewer leads),
    best average quality first when quality is known."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    if not 2 <= k <= MAX_CLUSTERS:
        raise InvalidInput(message=f"k must be from 2 to {MAX_CLUSTERS}, got {k}")
    prefix = _name(name)
    rows = list(scope.session.execute(scope.select(Lead, *_FEATURE_COLUMNS).order_by(Lead.id)))
    if len(rows) < k:
        raise InvalidInput(message=f"{len(rows)} leads cannot make {k} clusters; import more")
    matrix, with_quality = _features(rows)
    scaled = StandardScaler().fit_transform(matrix)
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(scaled)
    groups = [
        [row for row, label in zip(rows, labels, strict=True) if label == c] for c in range(k)
    ]
    groups = [group for group in groups if group]
    profiles = [_profile(group, with_quality) for group in groups]
    order = sorted(
        range(len(groups)),
        key=lambda i: -(profiles[i]["avg_quality"] or 0.0) if with_quality else -len(groups[i]),
    )
    views = []
    for rank, index in enumerate(order, start=1):
        profile = profiles[index]
        label = f"{prefix} {rank}"
        if profile["avg_quality"] is not None:
            label += f" (quality {profile['avg_quality']:.0f})"
        segment = scope.add(Segment(name=label[:200], kind="cluster", rules=[], profile=profile))
        members = [{"segment_id": segment.id, "lead_id": row.id} for row in groups[index]]
        scope.session.execute(sa.insert(SegmentMember), members)
        segment.size = len(members)
        scope.session.flush()
        views.append(_view(segment))
    return views


def list_segments(
    scope: TenantScope, *, limit: int = 100, after_id: int = 0, newest: bool = False
) -> list[SegmentView]:
    segments = scope.all(Segment, limit=limit, after_id=after_id, newest=newest)
    return [_view(segment) for segment in segments]


def get_segment(scope: TenantScope, segment_id: int) -> SegmentView:
    segment = scope.get(Segment, segment_id, "segment")
    if segment.kind == "rules":
        segment.size = _size(scope, segment)
    return _view(segment)
