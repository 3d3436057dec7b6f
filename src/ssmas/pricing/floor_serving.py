"""Floors served from predictions: per-publisher configuration, the decision, its log row.

:class:`FloorConfigs` keeps each publisher's :class:`PublisherFloorConfig` from the database in
memory for a few seconds, so the request path rarely touches the database; a change made through
the API is visible at once in the process that made it and within ``ttl_s`` elsewhere.
:func:`decide` applies the seed's dynamic floor to a served price, honouring the publisher's
switch and control share, and the static fallback floor when the model could not answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from ssmas.pricing import serving_store as store
from ssmas.pricing.answers import Scored
from ssmas.pricing.floors import (
    DEFAULT_CONFIG,
    FloorDecision,
    PublisherFloorConfig,
    assign_control,
    competition_multiplier,
    confidence_factor,
    decide_floor,
    fallback_decision,
)
from ssmas.pricing.schemas import FloorImpression


class FloorConfigs:
    """Publisher floor configurations, read through a short-lived in-process cache."""

    def __init__(
        self, engine: Engine, *, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, PublisherFloorConfig | None]] = {}
        self._lock = threading.Lock()

    def cached(self, publisher_id: str | None) -> PublisherFloorConfig | None:
        """The effective config if it is cached and fresh (no I/O), else None."""
        if publisher_id is None:
            return DEFAULT_CONFIG
        entry = self._cache.get(publisher_id)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1] or DEFAULT_CONFIG

    def get(self, publisher_id: str | None) -> PublisherFloorConfig:
        """The effective config (stored, else the seed's defaults), reading the DB if stale."""
        hit = self.cached(publisher_id)
        if hit is not None or publisher_id is None:
            return hit or DEFAULT_CONFIG
        stored = store.get_floor_config(self._engine, publisher_id)
        with self._lock:
            self._cache[publisher_id] = (self._clock() + self._ttl_s, stored)
        return stored or DEFAULT_CONFIG

    def stored(self, publisher_id: str) -> PublisherFloorConfig | None:
        """The stored config, bypassing the cache (None when the publisher has none)."""
        return store.get_floor_config(self._engine, publisher_id)

    def put(
        self, publisher_id: str, config: PublisherFloorConfig, *, at: datetime, actor: str
    ) -> None:
        """Store a publisher's config and serve it from this process at once."""
        store.put_floor_config(self._engine, publisher_id, config, at=at, actor=actor)
        with self._lock:
            self._cache[publisher_id] = (self._clock() + self._ttl_s, config)


def decide(request: FloorImpression, scored: Scored, config: PublisherFloorConfig) -> FloorDecision:
    """The floor for one served price under the publisher's config."""
    history = request.data_points if request.data_points is not None else scored.data_points
    if not scored.fallback:
        return decide_floor(
            request.impression_id,
            scored.point,
            data_points=history,
            hour_of_day=request.hour_of_day,
            inventory_type=request.inventory_type,
            config=config,
        )
    cf = confidence_factor(history)
    cm = competition_multiplier(request.hour_of_day, request.inventory_type)
    if not config.enabled:
        return FloorDecision(None, "disabled", cf, cm)
    if assign_control(request.impression_id, config.control_share):
        return FloorDecision(None, "control", cf, cm)
    return fallback_decision(config)


def floor_body(
    request: FloorImpression,
    scored: Scored,
    decision: FloorDecision,
    timestamp: str,
    latency_ms: float,
) -> dict[str, Any]:
    """The ``FloorResponse`` JSON of one decision."""
    return {
        "impression_id": request.impression_id,
        "floor": decision.floor,
        "reason": decision.reason,
        "predicted_cpm": round(scored.point, 4),
        "confidence_factor": decision.confidence_factor,
        "competition_multiplier": decision.competition_multiplier,
        "control": decision.reason == "control",
        "model_version": scored.version,
        "variant": scored.variant,
        "fallback": scored.fallback,
        "decision_timestamp": timestamp,
        "latency_ms": round(latency_ms, 3),
    }


def decision_row(
    request: FloorImpression, scored: Scored, decision: FloorDecision, at: datetime
) -> dict[str, Any]:
    """The ``pricing_floor_decisions`` row of one decision (every decision is logged)."""
    return {
        "decided_at": at,
        "impression_id": request.impression_id,
        "publisher_id": request.publisher_id,
        "floor": decision.floor,
        "reason": decision.reason,
        "predicted_cpm": scored.point,
        "model_version": scored.version,
        "variant": scored.variant,
        "fallback": scored.fallback,
        "control": decision.reason == "control",
    }
