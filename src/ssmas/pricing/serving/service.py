"""The scorer service: champion and challenger in memory, scored under a timeout, with a fallback.

:class:`PricingService` holds at most one model per variant (installed by the loader in
``ssmas.pricing.serving.hot_reload``, swapped atomically on promotion). A request is assigned a
variant by a sticky hash of its impression id (``VariantSplit``, 80/20 by default) and encoded on
the event loop (a batch column by column, ``encode_batch``); how it is scored is the model's
:class:`~ssmas.pricing.serving.scoring_guard.ScoringGuard`'s call (one guard for single rows, one
for batches): inline while the model is proven fast, on the scoring thread under ``timeout_ms``
(``batch_timeout_ms``) otherwise. Requests are typed :class:`~ssmas.pricing.schemas.Impression`:
the pydantic models or their ``msgspec`` twins (``ssmas.pricing.serving.fast_requests``). If the
model is missing, raises, is overloaded, times out or has its circuit open, the answer is the
fallback (the segment mean the model was trained with, else the static CPM) flagged
``fallback: true``, sent as soon as the timeout expires (at once when the circuit is open).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt
import structlog

from ssmas.pricing.model.features import FeatureEncoder, normalise_domain
from ssmas.pricing.schemas import Impression
from ssmas.pricing.serving.capture import CaptureWriter, sample_mask, sampled
from ssmas.pricing.serving.responses import (
    NO_MODEL_VERSION,
    FallbackReason,
    Priced,
    Scored,
    capture_row,
)
from ssmas.pricing.serving.row_scorer import RowScorer, build_row_scorer
from ssmas.pricing.serving.scoring_guard import ScoringGuard, ScoringThread
from ssmas.pricing.serving.stats import ServingStats
from ssmas.pricing.serving.store import captures
from ssmas.pricing.variants import Variant, VariantSplit
from ssmas.settings import PricingSettings

FloatArray = npt.NDArray[np.float64]
Prediction = tuple[FloatArray, FloatArray, FloatArray]
FALLBACK_BAND = 0.5  # fallback answers carry a wide +-50% band: nothing was predicted
_log = structlog.get_logger(__name__)


class Scorer(Protocol):
    """What serving needs of a model (``ssmas.pricing.model.bundle.PricingModel`` is one)."""

    version: str
    metrics: dict[str, float]
    encoder: FeatureEncoder

    def predict_matrix(self, x: npt.NDArray[np.float32]) -> Prediction:
        """Point, lower and upper 80% bound (EUR CPM) for each row of a feature matrix."""
        ...


class SlowScorer:
    """A scorer made slower by ``delay_s`` per call: fault drills and fallback tests."""

    def __init__(self, inner: Scorer, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.version = inner.version
        self.metrics = inner.metrics
        self.encoder = inner.encoder

    def predict_matrix(self, x: npt.NDArray[np.float32]) -> Prediction:
        time.sleep(self.delay_s)
        return self.inner.predict_matrix(x)


@dataclass(frozen=True)
class ModelSlot:
    """A loaded model serving one variant, with its breaker and its single-row fast path."""

    variant: Variant
    scorer: Scorer
    guard: ScoringGuard
    row: RowScorer | None = None
    batch_guard: ScoringGuard | None = None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def version(self) -> str:
        return str(self.scorer.version)

    def score_row(self, x: npt.NDArray[np.float32]) -> tuple[float, float, float]:
        """Point, lower and upper bound of one encoded row."""
        if self.row is not None:
            return self.row.predict_one(x)
        point, lower, upper = self.scorer.predict_matrix(x.reshape(1, -1))
        return float(point[0]), float(lower[0]), float(upper[0])


class PricingService:
    """Prices impressions with the installed models; never raises for a model failure."""

    def __init__(self, config: PricingSettings, *, writer: CaptureWriter | None = None) -> None:
        self.config = config
        self.writer = writer
        self.split = VariantSplit(
            challenger_share=config.challenger_share,
            challenger_enabled=config.challenger_enabled,
        )
        self.stats = ServingStats(config.recent_predictions)
        self._slots: dict[Variant, ModelSlot] = {}
        self._thread = ScoringThread()
        self._in_flight = 0
        self._timeout_s = config.timeout_ms / 1000.0
        self._batch_timeout_s = config.batch_timeout_ms / 1000.0
        self.on_install: Callable[[], object] | None = None  # the runtime's GC freeze

    # -- models -------------------------------------------------------------------------------
    def install(self, variant: Variant, scorer: Scorer | None) -> None:
        """Serve ``variant`` with ``scorer`` from the next request on (None removes it)."""
        slots = dict(self._slots)
        if scorer is None:
            slots.pop(variant, None)
        else:
            row = build_row_scorer(scorer) if hasattr(scorer, "booster") else None
            if self.config.injected_delay_ms > 0:
                scorer, row = SlowScorer(scorer, self.config.injected_delay_ms / 1000.0), None
            guard = ScoringGuard(self._timeout_s)
            batch_guard = ScoringGuard(self._batch_timeout_s)
            slots[variant] = ModelSlot(variant, scorer, guard, row, batch_guard)
        self._slots = slots  # one reference swap: requests see the old or the new set
        self.stats.set_model(variant, None if scorer is None else str(scorer.version))
        if self.on_install is not None:
            self.on_install()

    def slot(self, variant: Variant) -> ModelSlot | None:
        return self._slots.get(variant)

    def set_split(self, split: VariantSplit) -> None:
        self.split = split
        self.stats.set_split(split)

    def variant_of(self, impression_id: str) -> Variant:
        """The variant serving ``impression_id`` now (champion when no challenger is loaded)."""
        if "challenger" not in self._slots:
            return "champion"
        return self.split.assign(impression_id)

    # -- scoring ------------------------------------------------------------------------------
    async def score_one(self, request: Impression) -> Scored:
        """Price one request within the timeout; a fallback answer otherwise."""
        variant = self.variant_of(request.impression_id)
        slot = self._slots.get(variant)
        if slot is None:
            return self.fallback(request, variant, None, "no_model")
        encoder = slot.scorer.encoder
        guard = slot.guard
        route = guard.route()
        if route == "open":
            return self.fallback(request, variant, slot, "circuit_open")
        try:
            x = encoder.encode_request(request)
            if route == "inline":
                started = time.perf_counter()
                point, lower, upper = slot.score_row(x)
                seconds = time.perf_counter() - started
            else:
                if self._in_flight >= self.config.max_in_flight:
                    return self.fallback(request, variant, slot, "overloaded")
                future = asyncio.wrap_future(self._thread.submit(_timed, slot.score_row, x))
                self._in_flight += 1
                future.add_done_callback(self._done)
                (point, lower, upper), seconds = await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError:
            guard.timed_out()
            return self.fallback(request, variant, slot, "timeout")
        except Exception as exc:  # a broken model must not break the answer
            guard.failed()
            _log.warning("pricing_model_error", version=slot.version, error=repr(exc)[:300])
            return self.fallback(request, variant, slot, "error")
        guard.succeeded(seconds)
        return Scored(
            point,
            lower,
            upper,
            slot.version,
            variant,
            False,
            None,
            encoder.domain_count(request.domain),
        )

    async def score_many(self, requests: Sequence[Impression]) -> Priced:
        """Price a batch (split by variant) within the batch timeout; fallbacks otherwise."""
        n = len(requests)
        priced = Priced.empty(n)
        if "challenger" in self._slots:
            challenger = self.split.challenger_mask([r.impression_id for r in requests])
        else:
            challenger = np.zeros(n, dtype=np.bool_)
        slots = self._slots
        work: list[tuple[npt.NDArray[np.intp], ModelSlot, npt.NDArray[np.float32]]] = []
        groups: tuple[tuple[Variant, npt.NDArray[np.bool_]], ...] = (
            ("champion", ~challenger),
            ("challenger", challenger),
        )
        for variant, mask in groups:
            idx = np.flatnonzero(mask)
            if not idx.size:
                continue
            slot = slots.get(variant)
            priced.set_variant(idx, variant, NO_MODEL_VERSION if slot is None else slot.version)
            if slot is None or slot.guard.route() == "open":
                reason: FallbackReason = "no_model" if slot is None else "circuit_open"
                self._fallback_rows(requests, priced, idx, variant, slot, reason)
                continue
            # Encoded here (a few hundred µs for 1000 rows, GIL held either way); only the
            # model call (it releases the GIL) goes to the scoring thread, until the batch
            # guard has seen the model fast enough to call it inline.
            rows = requests if idx.size == n else [requests[i] for i in idx.tolist()]
            x, priced.history[idx] = slot.scorer.encoder.encode_batch(rows)
            work.append((idx, slot, x))
        if not work:
            return priced
        jobs = [(s, x) for _i, s, x in work]
        try:
            if all(s.batch_guard is not None and s.batch_guard.mode == "inline" for s, _x in jobs):
                results = _score_groups(jobs)  # proven fast: no thread hop (see ScoringGuard)
            else:
                future = asyncio.wrap_future(self._thread.submit(_score_groups, jobs))
                self._in_flight += 1
                future.add_done_callback(self._done)
                results = await asyncio.wait_for(future, self._batch_timeout_s)
        except Exception as exc:
            reason = "timeout" if isinstance(exc, TimeoutError) else "error"
            if reason == "error":
                _log.warning("pricing_model_error", error=repr(exc)[:300])
            for idx, slot, _x in work:
                for guard in (slot.guard, slot.batch_guard):
                    if guard is not None:
                        (guard.timed_out if reason == "timeout" else guard.failed)()
                self._fallback_rows(requests, priced, idx, slot.variant, slot, reason)
            return priced
        for (idx, slot, _x), ((point, lower, upper), seconds) in zip(work, results, strict=True):
            priced.point[idx], priced.lower[idx], priced.upper[idx] = point, lower, upper
            if slot.batch_guard is not None:
                slot.batch_guard.succeeded(seconds)
        return priced

    def _fallback_rows(
        self,
        requests: Sequence[Impression],
        priced: Priced,
        idx: npt.NDArray[np.intp],
        variant: Variant,
        slot: ModelSlot | None,
        reason: FallbackReason,
    ) -> None:
        for i in idx.tolist():
            s = self.fallback(requests[i], variant, slot, reason)
            priced.point[i], priced.lower[i], priced.upper[i] = s.point, s.lower, s.upper
            priced.history[i] = s.data_points
            priced.fallback[i] = True

    def fallback(
        self,
        request: Impression,
        variant: Variant,
        slot: ModelSlot | None,
        reason: FallbackReason,
    ) -> Scored:
        """The segment-mean (or static) answer used when the model cannot answer."""
        point = self.config.fallback_cpm
        history = 0
        if slot is not None:
            encoding = slot.scorer.encoder.schema.domain_encoding
            point = encoding.prior if encoding.prior > 0 else point
            if request.domain is not None:
                key = normalise_domain(request.domain)
                point = encoding.values.get(key, point)
                history = encoding.counts.get(key, 0)
        version = slot.version if slot is not None else NO_MODEL_VERSION
        self.stats.fallback(reason)
        return Scored(
            point,
            point * (1.0 - FALLBACK_BAND),
            point * (1.0 + FALLBACK_BAND),
            version,
            variant,
            True,
            reason,
            history,
        )

    # -- bookkeeping --------------------------------------------------------------------------
    def record(
        self, requests: Sequence[Impression], scored: Sequence[Scored], elapsed_s: float
    ) -> None:
        """Metrics, the recent-prediction memory (for outcomes) and the captured sample."""
        self.stats.served(scored, elapsed_s)
        remember = self.stats.remember
        for s, r in zip(scored, requests, strict=True):
            remember(r.impression_id, s.variant, s.version, s.point)
        writer, share = self.writer, self.config.capture_share
        if writer is None or share <= 0.0:
            return
        now: datetime | None = None
        latency_ms = elapsed_s * 1000.0 / max(1, len(scored))
        for r, s in zip(requests, scored, strict=True):
            if sampled(r.impression_id, share):
                now = now or datetime.now(UTC)
                writer.add(captures, capture_row(r, s, now, latency_ms))

    def record_many(self, requests: Sequence[Impression], priced: Priced, elapsed_s: float) -> None:
        """:meth:`record` for a batch, with vectorised metrics and sampling."""
        self.stats.served_many(priced.variant, priced.point, priced.fallback, elapsed_s)
        ids = [r.impression_id for r in requests]
        self.stats.remember_many(ids, priced.variant, priced.version, priced.point.tolist())
        writer, share = self.writer, self.config.capture_share
        if writer is None or share <= 0.0:
            return
        chosen = np.flatnonzero(sample_mask(ids, share))
        if chosen.size:
            now = datetime.now(UTC)
            latency_ms = elapsed_s * 1000.0 / max(1, len(requests))
            rows = [
                capture_row(requests[i], priced.row(i), now, latency_ms) for i in chosen.tolist()
            ]
            writer.add_many(captures, rows)

    def _done(self, _future: object) -> None:
        self._in_flight -= 1

    def close(self) -> None:
        """Let the scoring thread end (a daemon: a hung model call never delays exit)."""
        self._thread.shutdown()


def _timed(
    predict: Callable[[npt.NDArray[np.float32]], tuple[float, float, float]],
    x: npt.NDArray[np.float32],
) -> tuple[tuple[float, float, float], float]:
    """Run ``predict`` and time it (on the scoring thread: the model's own duration)."""
    started = time.perf_counter()
    result = predict(x)
    return result, time.perf_counter() - started


def _score_groups(
    work: list[tuple[ModelSlot, npt.NDArray[np.float32]]],
) -> list[tuple[Prediction, float]]:
    """Score each variant's encoded rows with its own model, timing each call."""
    results = []
    for slot, x in work:
        started = time.perf_counter()
        prediction = slot.scorer.predict_matrix(x)
        results.append((prediction, time.perf_counter() - started))
    return results
