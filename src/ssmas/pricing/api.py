"""The pricing HTTP API (``/v2``, seed 003's contract): predictions, floors and outcomes.

Hot path: raw body → ``validate_json`` → ``encode_request`` → the champion or challenger scored
on the scoring thread under the timeout (fallback otherwise) → a JSON body built as a dict.
Scopes: ``pricing:read`` to price, ``pricing:write`` to post outcomes; the admin routes (models,
publisher floor configs, monitoring) are in ``ssmas.pricing.api_admin``. The module's ``setup``
hook (from ``ssmas.pricing.serving_runtime``) starts the serving side with the app.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter, model_validator
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool

from ssmas.core.api import ApiError, authenticate
from ssmas.core.api.openapi import SECURITY_SCHEMES
from ssmas.core.security.keys import has_scope
from ssmas.pricing import serving_store as store
from ssmas.pricing.answers import Scored, batch_bodies, prediction_body, utc_timestamp
from ssmas.pricing.api_admin import admin_router
from ssmas.pricing.floor_serving import decide, decision_row, floor_body
from ssmas.pricing.floors import PublisherFloorConfig
from ssmas.pricing.request_bodies import BodyRejected, body_doc, read_json
from ssmas.pricing.schemas import (
    MAX_BATCH,
    BatchFloorRequest,
    BatchFloorResponse,
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    FloorRequest,
    FloorResponse,
    PredictRequest,
    PredictResponse,
)
from ssmas.pricing.serving_runtime import ServingRuntime, runtime_of, setup
from ssmas.pricing.web import web_router

__all__ = ["router", "setup"]

READ, WRITE = "pricing:read", "pricing:write"
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "empty or malformed JSON"),
        (401, "missing or invalid API key"),
        (403, "the key lacks the scope"),
        (415, "the body is not JSON"),
        (422, "the body breaks the contract (one sentence per field)"),
        (429, "rate limited"),
    )
}


class Outcome(BaseModel):
    """What happened to a priced impression: filled at a clearing CPM, or not filled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    impression_id: str = Field(min_length=1, max_length=128)
    filled: bool = Field(strict=True)
    clearing_cpm: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    revenue_eur: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None

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


PREDICT = TypeAdapter(PredictRequest)
PREDICT_BATCH = TypeAdapter(BatchPredictRequest)
FLOOR = TypeAdapter(FloorRequest)
FLOOR_BATCH = TypeAdapter(BatchFloorRequest)
OUTCOMES = TypeAdapter(OutcomeBatch)
OBJECT = "a JSON object"
ARRAY = f"a JSON array of 1 to {MAX_BATCH} objects"


def _json(body: Any) -> Response:
    return Response(to_json(body), media_type="application/json")


async def authorize(request: Request, scope: str) -> None:
    """The platform's key check, called directly (FastAPI resolves no dependency per request).

    Same answers as ``Depends(require_scope(scope))``: 401 without a valid key, 429 over its
    rate limit, 403 without the scope; the hot routes save the dependency machinery's cost.
    """
    key = await authenticate(request)
    if not has_scope(key, scope):
        raise ApiError(403, "forbidden", f"this API key lacks the scope {scope!r}")


def documented(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """OpenAPI of a hot route: its JSON body and the API-key security it checks itself."""
    return {**body_doc(adapter), "security": [{name: []} for name in SECURITY_SCHEMES]}


router = APIRouter(tags=["pricing"])


@router.post(
    "/v2/predict",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra=documented(PREDICT),
    summary="Predicted CPM of one impression",
)
async def predict(request: Request) -> Response:
    """Predicted clearing CPM (EUR) with its 80% interval, variant and model version."""
    await authorize(request, READ)
    runtime = runtime_of(request)
    started = time.perf_counter()
    try:
        req = await read_json(request, PREDICT, expected=OBJECT)
    except BodyRejected as rejected:
        return rejected.response(request)
    service = runtime.service
    scored = await service.score_one(req)
    elapsed = time.perf_counter() - started
    service.record((req,), (scored,), elapsed)
    return _json(prediction_body(req.impression_id, scored, utc_timestamp(), elapsed * 1000.0))


@router.post(
    "/v2/predict/batch",
    response_model=BatchPredictResponse,
    responses=ERRORS,
    openapi_extra=documented(PREDICT_BATCH),
    summary="Predicted CPM of up to 1000 impressions",
)
async def predict_batch(request: Request) -> Response:
    """One prediction per request, in the order of the requests."""
    await authorize(request, READ)
    runtime = runtime_of(request)
    started = time.perf_counter()
    try:
        reqs = (await read_json(request, PREDICT_BATCH, expected=ARRAY)).root
    except BodyRejected as rejected:
        return rejected.response(request)
    service = runtime.service
    priced = await service.score_many(reqs)
    elapsed = time.perf_counter() - started
    service.record_many(reqs, priced, elapsed)
    return _json(batch_bodies(reqs, priced, utc_timestamp(), elapsed * 1000.0))


async def _configs(
    runtime: ServingRuntime, reqs: Sequence[FloorRequest]
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
    reqs: Sequence[FloorRequest],
    scored: Sequence[Scored],
    configs: dict[str | None, PublisherFloorConfig],
    elapsed_s: float,
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    stamp = now.isoformat().replace("+00:00", "Z")
    bodies, rows = [], []
    for req, s in zip(reqs, scored, strict=True):
        decision = decide(req, s, configs[req.publisher_id])
        bodies.append(floor_body(req, s, decision, stamp, elapsed_s * 1000.0))
        rows.append(decision_row(req, s, decision, now))
    runtime.service.stats.floors(rows)
    runtime.writer.add_many(store.floor_decisions, rows)
    return bodies


@router.post(
    "/v2/floor",
    response_model=FloorResponse,
    responses=ERRORS,
    openapi_extra=documented(FLOOR),
    summary="Dynamic floor for one impression",
)
async def floor(request: Request) -> Response:
    """The seed's dynamic floor from the predicted CPM, under the publisher's configuration."""
    await authorize(request, READ)
    runtime = runtime_of(request)
    started = time.perf_counter()
    try:
        req = await read_json(request, FLOOR, expected=OBJECT)
    except BodyRejected as rejected:
        return rejected.response(request)
    configs = await _configs(runtime, (req,))
    scored = await runtime.service.score_one(req)
    elapsed = time.perf_counter() - started
    runtime.service.record((req,), (scored,), elapsed)
    return _json(_floors(runtime, (req,), (scored,), configs, elapsed)[0])


@router.post(
    "/v2/floor/batch",
    response_model=BatchFloorResponse,
    responses=ERRORS,
    openapi_extra=documented(FLOOR_BATCH),
    summary="Dynamic floors for up to 1000 impressions",
)
async def floor_batch(request: Request) -> Response:
    """One floor decision per request, in the order of the requests."""
    await authorize(request, READ)
    runtime = runtime_of(request)
    started = time.perf_counter()
    try:
        reqs = (await read_json(request, FLOOR_BATCH, expected=ARRAY)).root
    except BodyRejected as rejected:
        return rejected.response(request)
    configs = await _configs(runtime, reqs)
    priced = await runtime.service.score_many(reqs)
    elapsed = time.perf_counter() - started
    runtime.service.record_many(reqs, priced, elapsed)
    scored = [priced.row(i) for i in range(len(priced))]
    return _json(_floors(runtime, reqs, scored, configs, elapsed))


@router.post(
    "/v2/outcomes",
    response_model=OutcomeReceipt,
    responses=ERRORS,
    openapi_extra=documented(OUTCOMES),
    summary="Report what priced impressions cleared at",
)
async def outcomes(request: Request) -> Response:
    """Realised CPM and revenue per impression, matched to the variant and price that served it."""
    await authorize(request, WRITE)
    runtime = runtime_of(request)
    try:
        items = (await read_json(request, OUTCOMES, expected=ARRAY)).root
    except BodyRejected as rejected:
        return rejected.response(request)
    stats = runtime.service.stats
    now = datetime.now(UTC)
    rows, matched = [], 0
    for item in items:
        known = stats.recall(item.impression_id)
        revenue = item.revenue_eur
        if revenue is None:
            revenue = item.clearing_cpm / 1000.0 if item.clearing_cpm is not None else 0.0
        variant, version, predicted = known if known is not None else (None, None, None)
        matched += known is not None
        stats.outcome(variant, predicted, item.clearing_cpm, revenue)
        rows.append(
            {
                "received_at": now,
                "impression_id": item.impression_id,
                "variant": variant,
                "model_version": version,
                "predicted_cpm": predicted,
                "clearing_cpm": item.clearing_cpm,
                "filled": item.filled,
                "revenue_eur": revenue,
            }
        )
    runtime.writer.add_many(store.outcomes, rows)
    return _json({"accepted": len(items), "matched": matched, "unmatched": len(items) - matched})


# After the hot routes: FastAPI matches routes in order, so the busiest come first.
router.include_router(admin_router)
router.include_router(web_router)
