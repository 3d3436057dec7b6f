"""The pricing HTTP API (``/v2``, seed 003's contract): predictions, floors and outcomes.

Hot path: the five routes below are lean routes (``ssmas.core.api.lean``: exact-path dispatch,
the platform's key check and scope, no FastAPI dependency solving or response handling), each
built by :func:`hot_route` around its work: the body decoded by ``msgspec`` (pydantic words
every refusal: 400 / 415 / 422), the work, an ``orjson`` body. They stay documented FastAPI
routes (request and response schemas in ``/docs``). Scopes: ``pricing:read`` to price,
``pricing:write`` to post outcomes; the admin routes (models, publisher floor configs,
monitoring) are in ``ssmas.pricing.api_admin``. The module's ``setup`` hook (from
``ssmas.pricing.serving.runtime``) starts the serving side with the app.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import numpy as np
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter, model_validator
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from ssmas.core.api.lean import lean_route
from ssmas.core.security.keys import ApiKeyRecord
from ssmas.pricing.api_admin import admin_router
from ssmas.pricing.floors.decisions import (
    REASONS,
    decide,
    decide_many,
    decision_row,
    decision_rows,
    floor_batch_json,
    floor_body,
)
from ssmas.pricing.floors.formula import PublisherFloorConfig
from ssmas.pricing.schemas import (
    MAX_BATCH,
    BatchErrorResponse,
    BatchFloorRequest,
    BatchFloorResponse,
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    FloorImpression,
    FloorRequest,
    FloorResponse,
    Impression,
    PredictRequest,
    PredictResponse,
)
from ssmas.pricing.serving import store
from ssmas.pricing.serving.fast_requests import (
    FAST_FLOOR,
    FAST_FLOOR_BATCH,
    FAST_PREDICT,
    FAST_PREDICT_BATCH,
)
from ssmas.pricing.serving.request_bodies import (
    BatchRows,
    BodyRejected,
    JsonBody,
    RowsBody,
    body_doc,
)
from ssmas.pricing.serving.responses import Scored, batch_json, prediction_body, utc_timestamp
from ssmas.pricing.serving.runtime import ServingRuntime, require_serving_runtime, setup
from ssmas.pricing.serving.stats import record_outcomes

__all__ = ["router", "setup"]

READ, WRITE = "pricing:read", "pricing:write"
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "empty or malformed JSON"),
        (401, "missing or invalid API key"),
        (403, "the key lacks the scope"),
        (413, "the body is too large"),
        (415, "the body is not JSON"),
        (422, "the body breaks the contract (one sentence per field)"),
        (429, "rate limited"),
    )
}
BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: {
        "model": BatchErrorResponse,
        "description": "empty or malformed JSON, or no row of the batch is valid (per-row errors)",
    },
    422: {
        "model": ErrorResponse,
        "description": "the body is not a JSON array of 1 to 1000 items",
    },
}
T = TypeVar("T")
MAX_PRICE_EUR = 100_000.0
"""The largest clearing CPM or revenue an outcome may report: beyond it the realised-error
statistics (squares of sums) would overflow to infinity, which JSON cannot carry."""
Price = Annotated[float, Field(ge=0.0, le=MAX_PRICE_EUR, allow_inf_nan=False)]


class Outcome(BaseModel):
    """What happened to a priced impression: filled at a clearing CPM, or not filled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    impression_id: str = Field(min_length=1, max_length=128)
    filled: bool = Field(strict=True)
    clearing_cpm: Price | None = None
    revenue_eur: Price | None = None

    @model_validator(mode="after")
    def _price_matches_fill(self) -> Outcome:
        if self.filled and self.clearing_cpm is None:
            raise ValueError("a filled impression needs its clearing_cpm")
        if not self.filled and self.clearing_cpm is not None:
            raise ValueError("an unfilled impression has no clearing_cpm")
        return self


class OutcomeBatch(RootModel[list[Outcome]]):
    """A JSON array of 1 to 1000 outcomes."""

    root: Annotated[list[Outcome], Field(min_length=1, max_length=MAX_BATCH)]


class OutcomeReceipt(BaseModel):
    accepted: int
    matched: int
    unmatched: int


OBJECT = "a JSON object"
ARRAY = f"a JSON array of 1 to {MAX_BATCH} objects"
PREDICT = JsonBody[Impression](TypeAdapter(PredictRequest), expected=OBJECT, fast=FAST_PREDICT)
PREDICT_BATCH = JsonBody[Sequence[Impression]](
    TypeAdapter(BatchPredictRequest), expected=ARRAY, fast=FAST_PREDICT_BATCH, root=True
)
PREDICT_ROWS = RowsBody[Impression](PREDICT_BATCH, PREDICT)
FLOOR = JsonBody[FloorImpression](TypeAdapter(FloorRequest), expected=OBJECT, fast=FAST_FLOOR)
FLOOR_BATCH = JsonBody[Sequence[FloorImpression]](
    TypeAdapter(BatchFloorRequest), expected=ARRAY, fast=FAST_FLOOR_BATCH, root=True
)
OUTCOMES = JsonBody[list[Outcome]](TypeAdapter(OutcomeBatch), expected=ARRAY, root=True)


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


router = APIRouter(tags=["pricing"])
Work = Callable[[ServingRuntime, T, float], Awaitable[Response]]


def hot_route(
    path: str,
    body: JsonBody[T],
    *,
    scope: str,
    response_model: Any,
    summary: str,
    responses: dict[int | str, dict[str, Any]] = ERRORS,
) -> Callable[[Work[T]], Work[T]]:
    """Serve ``work`` at ``POST path`` as a lean route needing ``scope``.

    The endpoint reads ``body`` (the 4xx answer on refusal) and calls ``work(runtime, payload,
    started)``, ``started`` being the ``perf_counter`` after the key check (the ``latency_ms``
    the answers report).
    """

    def register(work: Work[T]) -> Work[T]:
        async def endpoint(request: Request, _key: ApiKeyRecord) -> Response:
            runtime = require_serving_runtime(request)
            started = time.perf_counter()
            try:
                payload = await body.read(request)
            except BodyRejected as rejected:
                return rejected.response(request)
            return await work(runtime, payload, started)

        endpoint.__name__ = work.__name__
        endpoint.__doc__ = work.__doc__
        lean_route(
            router,
            "POST",
            path,
            scope=scope,
            response_model=response_model,
            responses=responses,
            openapi_extra=body_doc(body.adapter),
            summary=summary,
        )(endpoint)
        return work

    return register


@hot_route(
    "/v2/predict",
    PREDICT,
    scope=READ,
    response_model=PredictResponse,
    summary="Predicted CPM of one impression",
)
async def predict(runtime: ServingRuntime, req: Impression, started: float) -> Response:
    """Predicted clearing CPM (EUR) with its 80% interval, variant and model version."""
    service = runtime.service
    scored = await service.score_one(req)
    elapsed = time.perf_counter() - started
    service.record((req,), (scored,), elapsed)
    return _json(prediction_body(req.impression_id, scored, utc_timestamp(), elapsed * 1000.0))


@hot_route(
    "/v2/predict/batch",
    PREDICT_ROWS,
    scope=READ,
    response_model=BatchPredictResponse,
    summary="Predicted CPM of up to 1000 impressions",
    responses=BATCH_ERRORS,
)
async def predict_batch(
    runtime: ServingRuntime, batch: BatchRows[Impression], started: float
) -> Response:
    """One answer per request, in the order of the requests: the prediction of each valid row,
    ``{"impression_id", "error", "predicted_cpm": null, "index", "details"}`` for each invalid one
    (200 when at least one row is priced; 400 with the per-row ``errors`` when none is)."""
    service = runtime.service
    reqs = batch.rows
    priced = await service.score_many(reqs)
    elapsed = time.perf_counter() - started

    async def record() -> None:  # async: on the event loop, no thread
        service.record_many(reqs, priced, elapsed)

    body = batch_json(reqs, priced, utc_timestamp(), elapsed * 1000.0, batch.errors)
    # Metrics, the outcome memory and the capture sample: after the answer is sent.
    return Response(body, media_type="application/json", background=BackgroundTask(record))


async def _configs(
    runtime: ServingRuntime, reqs: Sequence[FloorImpression]
) -> dict[str | None, PublisherFloorConfig]:
    wanted = {r.publisher_id for r in reqs}
    found: dict[str | None, PublisherFloorConfig] = {}
    missing = []
    for pid in wanted:
        hit = runtime.floors.cached(pid)
        if hit is None:
            missing.append(pid)
        else:
            found[pid] = hit
    if missing:
        loaded = await run_in_threadpool(lambda: {p: runtime.floors.get(p) for p in missing})
        found.update(loaded)
    return found


def _floors(
    runtime: ServingRuntime,
    reqs: Sequence[FloorImpression],
    scored: Sequence[Scored],
    configs: dict[str | None, PublisherFloorConfig],
    elapsed_s: float,
) -> list[dict[str, Any]]:
    """Decide, log and answer row by row (``/v2/floor``: for one row, cheaper than arrays)."""
    now = datetime.now(UTC)
    stamp = utc_timestamp(now)
    bodies, rows = [], []
    for req, s in zip(reqs, scored, strict=True):
        decision = decide(req, s, configs[req.publisher_id])
        bodies.append(floor_body(req, s, decision, stamp, elapsed_s * 1000.0))
        rows.append(decision_row(req, s, decision, now))
    runtime.service.stats.floors(rows)
    runtime.writer.add_many(store.floor_decisions, rows)
    return bodies


@hot_route(
    "/v2/floor",
    FLOOR,
    scope=READ,
    response_model=FloorResponse,
    summary="Dynamic floor for one impression",
)
async def floor(runtime: ServingRuntime, req: FloorImpression, started: float) -> Response:
    """The seed's dynamic floor from the predicted CPM, under the publisher's configuration."""
    configs = await _configs(runtime, (req,))
    scored = await runtime.service.score_one(req)
    elapsed = time.perf_counter() - started
    runtime.service.record((req,), (scored,), elapsed)
    return _json(_floors(runtime, (req,), (scored,), configs, elapsed)[0])


@hot_route(
    "/v2/floor/batch",
    FLOOR_BATCH,
    scope=READ,
    response_model=BatchFloorResponse,
    summary="Dynamic floors for up to 1000 impressions",
)
async def floor_batch(
    runtime: ServingRuntime, reqs: Sequence[FloorImpression], started: float
) -> Response:
    """One floor decision per request, in the order of the requests."""
    configs = await _configs(runtime, reqs)
    priced = await runtime.service.score_many(reqs)
    elapsed = time.perf_counter() - started
    service = runtime.service
    service.record_many(reqs, priced, elapsed)
    # As columns: decided per publisher config, the log rows and the answer built column by
    # column (the same decisions, rows and JSON as /v2/floor's per-row path, tested).
    decided = decide_many(reqs, priced, configs)
    now = datetime.now(UTC)
    rows = decision_rows(reqs, priced, decided, now)
    service.stats.floors_many(decided.reason, REASONS, priced.variant)
    runtime.writer.add_many(store.floor_decisions, rows)
    stamp = utc_timestamp(now)
    body = floor_batch_json(reqs, priced, decided, stamp, elapsed * 1000.0)
    return Response(body, media_type="application/json")


@hot_route(
    "/v2/outcomes",
    OUTCOMES,
    scope=WRITE,
    response_model=OutcomeReceipt,
    summary="Report what priced impressions cleared at",
)
async def outcomes(runtime: ServingRuntime, items: list[Outcome], _started: float) -> Response:
    """Realised CPM and revenue per impression, matched to the variant and price that served it."""
    matched = record_outcomes(
        runtime.service.stats,
        runtime.writer,
        [item.impression_id for item in items],
        np.array([np.nan if i.clearing_cpm is None else i.clearing_cpm for i in items]),
        np.array([np.nan if i.revenue_eur is None else i.revenue_eur for i in items]),
        datetime.now(UTC),
    )
    return _json({"accepted": len(items), "matched": matched, "unmatched": len(items) - matched})


# After the hot routes: FastAPI matches routes in order, so the busiest come first.
router.include_router(admin_router)
