"""Per-variant serving figures: Prometheus metrics, a live summary and recent predictions.

Every answer updates ``ssmas_pricing_predictions_total{variant,fallback}``, the latency and
predicted-CPM histograms per variant, and a small in-process summary (counts, sums and the last
few thousand latencies for exact recent percentiles) that ``GET /v2/models`` and the dashboard
show. Recent predictions are remembered by impression id (bounded, oldest forgotten first) so
that an outcome posted later is matched to the variant and price that served it.

:func:`record_outcomes` is the one path outcomes take, column-wise: matched to the remembered
prediction, counted per variant (revenue, realised CPM, predicted vs realised error) and queued
as ``pricing_outcomes`` rows. ``POST /v2/outcomes`` and the demo's live auctions both feed it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ssmas.core import metrics
from ssmas.pricing.variants import Variant, VariantSplit

if TYPE_CHECKING:
    from ssmas.pricing.serving.capture import CaptureWriter
    from ssmas.pricing.serving.responses import Scored

CPM_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 25.0)
LATENCY_WINDOW = 4096
VARIANTS: tuple[Variant, ...] = ("champion", "challenger")

PREDICTIONS = metrics.counter(
    "pricing", "predictions", "Impressions priced", labels=("variant", "fallback")
)
FALLBACKS = metrics.counter("pricing", "fallbacks", "Fallback answers by cause", labels=("reason",))
LATENCY = metrics.histogram(
    "pricing", "prediction_latency", "Time to price one call (single or batch)", ("variant",)
)
PREDICTED = metrics.histogram(
    "pricing", "predicted_cpm", "Predicted CPM", ("variant",), unit="eur", buckets=CPM_BUCKETS
)
REALISED = metrics.histogram(
    "pricing",
    "realised_cpm",
    "Clearing CPM reported",
    ("variant",),
    unit="eur",
    buckets=CPM_BUCKETS,
)
ABS_ERROR = metrics.histogram(
    "pricing",
    "realised_abs_error",
    "|realised - predicted| CPM of filled impressions",
    ("variant",),
    unit="eur",
    buckets=CPM_BUCKETS,
)
REVENUE = metrics.counter("pricing", "revenue_eur", "Revenue reported in outcomes", ("variant",))
OUTCOMES = metrics.counter("pricing", "outcomes", "Outcomes received", labels=("variant", "filled"))
FLOOR_DECISIONS = metrics.counter(
    "pricing", "floor_decisions", "Floor decisions sent", labels=("reason", "variant")
)
MODEL_INFO = metrics.gauge(
    "pricing", "model_version", "info", "1 for the version serving each variant", ("variant",)
)
SPLIT = metrics.gauge(
    "pricing", "challenger_share", "ratio", "Share of impressions assigned to the challenger"
)


def observe_many(child: Any, values: np.ndarray) -> None:
    """Add many observations to a histogram child in one pass per bucket.

    ``prometheus_client`` has no bulk observe; this fills the same per-bucket counters and sum
    that ``observe`` does, and falls back to ``observe`` per value if those internals moved.
    """
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values.tolist():
            child.observe(value)
        return
    counts = np.bincount(
        np.searchsorted(np.asarray(bounds), values, side="left"), minlength=len(bounds)
    )
    for i, count in enumerate(counts.tolist()[: len(buckets)]):
        if count:
            buckets[i].inc(count)
    total.inc(float(values.sum()))


@dataclass
class VariantSummary:
    """Running sums for one variant since the process started."""

    version: str | None = None
    requests: int = 0
    fallbacks: int = 0
    predicted_sum: float = 0.0
    outcomes: int = 0
    filled: int = 0
    realised_sum: float = 0.0
    predicted_filled_sum: float = 0.0  # predictions of the filled outcomes (like for like)
    abs_error_sum: float = 0.0
    error_sum: float = 0.0  # realised - predicted
    errors: int = 0
    revenue_eur: float = 0.0
    latencies_ms: np.ndarray = field(default_factory=lambda: np.full(LATENCY_WINDOW, np.nan))
    latency_cursor: int = 0

    def as_dict(self) -> dict[str, Any]:
        recent = self.latencies_ms[~np.isnan(self.latencies_ms)]
        pct = (
            {f"p{q}": round(float(np.percentile(recent, q)), 3) for q in (50, 90, 99)}
            if recent.size
            else {"p50": None, "p90": None, "p99": None}
        )
        priced = self.requests or 1
        return {
            "version": self.version,
            "requests": self.requests,
            "fallbacks": self.fallbacks,
            "mean_predicted_cpm": round(self.predicted_sum / priced, 4) if self.requests else None,
            "outcomes": self.outcomes,
            "filled": self.filled,
            "mean_realised_cpm": round(self.realised_sum / self.filled, 4) if self.filled else None,
            "mean_predicted_filled_cpm": round(self.predicted_filled_sum / self.errors, 4)
            if self.errors
            else None,
            "mae_eur": round(self.abs_error_sum / self.errors, 4) if self.errors else None,
            "bias_eur": round(self.error_sum / self.errors, 4) if self.errors else None,
            "revenue_eur": round(self.revenue_eur, 6),
            "latency_ms": pct,
        }


class ServingStats:
    """Metrics and summaries of one serving process.

    Updated from the event loop (the API) and from other threads (the demo prices the live
    exchange's minutes on the exchange's thread), so the summaries' read-modify-write sums are
    taken under ``_summary_lock``: each call works out its increments first and applies them
    under one acquire, however many rows it carries. The Prometheus children lock themselves.
    """

    def __init__(self, remember_last: int) -> None:
        self._capacity = remember_last
        self._recent: OrderedDict[str, tuple[Variant, str, float]] = OrderedDict()
        self._lock = threading.Lock()  # the outcome memory (_recent)
        # Apart from _lock, so a dashboard read never waits behind outcome matching.
        self._summary_lock = threading.Lock()  # summary and fallback_reasons
        self.summary: dict[Variant, VariantSummary] = {v: VariantSummary() for v in VARIANTS}
        self.fallback_reasons: dict[str, int] = {}
        # labels() costs a lock and a tuple per call: keep the children.
        self._served = {
            (v, fb): PREDICTIONS.labels(v, "true" if fb else "false")
            for v in VARIANTS
            for fb in (False, True)
        }
        self._latency = {v: LATENCY.labels(v) for v in VARIANTS}
        self._predicted = {v: PREDICTED.labels(v) for v in VARIANTS}

    def set_model(self, variant: Variant, version: str | None) -> None:
        with self._summary_lock:
            self.summary[variant].version = version
        MODEL_INFO.labels(variant).set(0.0 if version is None else 1.0)

    def set_split(self, split: VariantSplit) -> None:
        SPLIT.set(split.challenger_share if split.challenger_enabled else 0.0)

    def fallback(self, reason: str) -> None:
        with self._summary_lock:
            self.fallback_reasons[reason] = self.fallback_reasons.get(reason, 0) + 1
        FALLBACKS.labels(reason).inc()

    def _add_served(
        self, variant: Variant, requests: int, fallbacks: int, predicted: float, latency_ms: float
    ) -> None:
        """Add one call's figures to ``variant``'s summary (the caller holds the lock)."""
        summary = self.summary[variant]
        summary.requests += requests
        summary.fallbacks += fallbacks
        summary.predicted_sum += predicted
        summary.latencies_ms[summary.latency_cursor % LATENCY_WINDOW] = latency_ms
        summary.latency_cursor += 1

    def served(self, scored: Sequence[Scored], elapsed_s: float) -> None:
        """Count one call's answers and its latency for each variant it touched."""
        # Per variant: requests, fallbacks and predicted sum, added up before taking the lock.
        requests: dict[Variant, int] = {}
        fallbacks: dict[Variant, int] = {}
        predicted: dict[Variant, float] = {}
        for s in scored:
            v = s.variant
            requests[v] = requests.get(v, 0) + 1
            fallbacks[v] = fallbacks.get(v, 0) + s.fallback
            predicted[v] = predicted.get(v, 0.0) + s.point
            self._served[(v, s.fallback)].inc()
            self._predicted[v].observe(s.point)
        with self._summary_lock:
            for v, n in requests.items():
                self._add_served(v, n, fallbacks[v], predicted[v], elapsed_s * 1000.0)
        for v in requests:
            self._latency[v].observe(elapsed_s)

    def floors(self, rows: Sequence[dict[str, Any]]) -> None:
        """Count floor decisions by reason and variant (rows as logged)."""
        for row in rows:
            FLOOR_DECISIONS.labels(row["reason"], row["variant"]).inc()

    def floors_many(
        self, codes: npt.NDArray[np.integer[Any]], reasons: Sequence[str], variants: list[Variant]
    ) -> None:
        """:meth:`floors` for a batch given as columns: ``codes`` index ``reasons`` row by row.

        One counter update per (reason, variant) present instead of a ``labels`` lookup (a lock
        and a tuple) per row.
        """
        n = len(variants)
        if not n:
            return
        challenger = np.fromiter((v == "challenger" for v in variants), np.intp, n)
        counts = np.bincount(np.asarray(codes, dtype=np.intp) * 2 + challenger)
        for slot, count in enumerate(counts.tolist()):
            if count:
                variant = "challenger" if slot % 2 else "champion"
                FLOOR_DECISIONS.labels(reasons[slot // 2], variant).inc(count)

    def served_many(
        self,
        variants: list[Variant],
        points: np.ndarray,
        fallback: np.ndarray,
        elapsed_s: float,
    ) -> None:
        """:meth:`served` for a batch given as columns (one metric update per group)."""
        is_challenger = np.fromiter((v == "challenger" for v in variants), bool, len(variants))
        groups: list[tuple[Variant, int, int, float]] = []
        for variant, mask in (("champion", ~is_challenger), ("challenger", is_challenger)):
            n = int(mask.sum())
            if not n:
                continue
            values = points[mask]
            fell_back = int(fallback[mask].sum())
            groups.append((variant, n, fell_back, float(values.sum())))  # type: ignore[arg-type]
            if fell_back:
                self._served[(variant, True)].inc(fell_back)  # type: ignore[index]
            if n - fell_back:
                self._served[(variant, False)].inc(n - fell_back)  # type: ignore[index]
            observe_many(self._predicted[variant], values)  # type: ignore[index]
            self._latency[variant].observe(elapsed_s)  # type: ignore[index]
        with self._summary_lock:
            for variant, n, fell_back, predicted in groups:
                self._add_served(variant, n, fell_back, predicted, elapsed_s * 1000.0)

    def remember_many(
        self, ids: list[str], variants: list[Variant], versions: list[str], points: list[float]
    ) -> None:
        if self._capacity <= 0:
            return
        recent = self._recent
        with self._lock:
            for key, variant, version, point in zip(ids, variants, versions, points, strict=True):
                recent[key] = (variant, version, point)
            while len(recent) > self._capacity:
                recent.popitem(last=False)

    def remember(self, impression_id: str, variant: Variant, version: str, point: float) -> None:
        if self._capacity <= 0:
            return
        recent = self._recent
        with self._lock:
            recent[impression_id] = (variant, version, point)
            if len(recent) > self._capacity:
                recent.popitem(last=False)

    def recall(self, impression_id: str) -> tuple[Variant, str, float] | None:
        with self._lock:
            return self._recent.get(impression_id)

    def recall_many(self, impression_ids: Sequence[str]) -> list[tuple[Variant, str, float] | None]:
        """:meth:`recall` for many ids under one lock."""
        with self._lock:
            get = self._recent.get
            return [get(key) for key in impression_ids]

    def outcome(
        self,
        variant: Variant | None,
        predicted: float | None,
        realised: float | None,
        revenue: float,
    ) -> None:
        """Account one realised outcome to the variant that priced it (``unmatched`` if none)."""
        self.outcomes_many(
            [variant],
            np.array([np.nan if predicted is None else predicted]),
            np.array([np.nan if realised is None else realised]),
            np.array([revenue]),
        )

    def outcomes_many(
        self,
        variants: Sequence[Variant | None],
        predicted: npt.NDArray[np.float64],
        realised: npt.NDArray[np.float64],
        revenue: npt.NDArray[np.float64],
    ) -> None:
        """Account outcomes to the variants that priced them, as columns.

        ``variants[i]`` is None for an unmatched outcome; ``predicted`` is NaN when unknown,
        ``realised`` (the clearing CPM) NaN when the impression was not filled.
        """
        labels = np.array([v or "unmatched" for v in variants], dtype=object)
        filled = ~np.isnan(realised)
        sums: list[tuple[Variant, _OutcomeSums]] = []
        for label in sorted(set(labels.tolist())):
            mask = labels == label
            n = int(mask.sum())
            n_filled = int((mask & filled).sum())
            if n_filled:
                OUTCOMES.labels(label, "true").inc(n_filled)
            if n - n_filled:
                OUTCOMES.labels(label, "false").inc(n - n_filled)
            earned = float(revenue[mask].sum())
            REVENUE.labels(label).inc(earned)
            if label == "unmatched":
                continue
            add = _OutcomeSums(outcomes=n, revenue_eur=earned)
            if n_filled:
                got = realised[mask & filled]
                add.filled, add.realised_sum = n_filled, float(got.sum())
                observe_many(REALISED.labels(label), got)
                paired = mask & filled & ~np.isnan(predicted)
                if paired.any():
                    error = realised[paired] - predicted[paired]
                    add.errors = int(paired.sum())
                    add.predicted_filled_sum = float(predicted[paired].sum())
                    add.abs_error_sum = float(np.abs(error).sum())
                    add.error_sum = float(error.sum())
                    observe_many(ABS_ERROR.labels(label), np.abs(error))
            sums.append((label, add))
        with self._summary_lock:
            for variant, add in sums:
                add.apply(self.summary[variant])

    def as_dict(self) -> dict[str, Any]:
        # Copied under the lock, rendered (percentiles) outside it: the hot path never waits
        # for a dashboard read longer than a copy of the summaries.
        with self._summary_lock:
            summary = {
                v: replace(s, latencies_ms=s.latencies_ms.copy()) for v, s in self.summary.items()
            }
            reasons = dict(self.fallback_reasons)
        return {
            "variants": {v: s.as_dict() for v, s in summary.items()},
            "fallback_reasons": reasons,
        }


@dataclass(slots=True)
class _OutcomeSums:
    """One call's outcome figures for one variant, worked out before the summary lock."""

    outcomes: int = 0
    revenue_eur: float = 0.0
    filled: int = 0
    realised_sum: float = 0.0
    errors: int = 0
    predicted_filled_sum: float = 0.0
    abs_error_sum: float = 0.0
    error_sum: float = 0.0

    def apply(self, summary: VariantSummary) -> None:
        summary.outcomes += self.outcomes
        summary.revenue_eur += self.revenue_eur
        summary.filled += self.filled
        summary.realised_sum += self.realised_sum
        summary.errors += self.errors
        summary.predicted_filled_sum += self.predicted_filled_sum
        summary.abs_error_sum += self.abs_error_sum
        summary.error_sum += self.error_sum


def record_outcomes(
    stats: ServingStats,
    writer: CaptureWriter | None,
    impression_ids: Sequence[str],
    clearing_cpm: npt.NDArray[np.float64],
    revenue_eur: npt.NDArray[np.float64] | None,
    at: datetime,
    *,
    keep: npt.NDArray[np.bool_] | None = None,
) -> int:
    """Realised outcomes of priced impressions: matched, counted per variant, queued as rows.

    ``clearing_cpm`` is NaN for an unfilled impression; ``revenue_eur`` NaN (or None for all)
    when not reported, then it is the clearing CPM / 1000 (0 unfilled). Each outcome is matched
    by impression id to the prediction that priced it (:meth:`ServingStats.recall_many`) and
    accounted to that variant; unknown ids count as ``unmatched``. The ``pricing_outcomes``
    rows go to ``writer`` (every one, or those where ``keep`` is True). Returns how many matched.
    """
    from ssmas.pricing.serving.store import outcomes as outcomes_table

    n = len(impression_ids)
    clearing = np.asarray(clearing_cpm, dtype=np.float64)
    filled = ~np.isnan(clearing)
    derived = np.where(filled, clearing / 1000.0, 0.0)
    if revenue_eur is None:
        revenue = derived
    else:
        given = np.asarray(revenue_eur, dtype=np.float64)
        revenue = np.where(np.isnan(given), derived, given)
    known = stats.recall_many(impression_ids)
    variants: list[Variant | None] = [k[0] if k is not None else None for k in known]
    predicted = np.fromiter(
        (k[2] if k is not None else np.nan for k in known), dtype=np.float64, count=n
    )
    stats.outcomes_many(variants, predicted, np.where(filled, clearing, np.nan), revenue)
    if writer is not None:
        chosen = range(n) if keep is None else np.flatnonzero(keep).tolist()
        rows = []
        for i in chosen:
            hit = known[i]
            rows.append(
                {
                    "received_at": at,
                    "impression_id": impression_ids[i],
                    "variant": None if hit is None else hit[0],
                    "model_version": None if hit is None else hit[1],
                    "predicted_cpm": None if hit is None else hit[2],
                    "clearing_cpm": float(clearing[i]) if filled[i] else None,
                    "filled": bool(filled[i]),
                    "revenue_eur": float(revenue[i]),
                }
            )
        if rows:
            writer.add_many(outcomes_table, rows)
    return sum(k is not None for k in known)
