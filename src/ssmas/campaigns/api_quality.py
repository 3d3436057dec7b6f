"""``POST /campaigns/quality/score``: lead quality for one lead or up to 10,000 (scope
``campaigns:read``).

A lean route (``ssmas.core.api.lean``: exact-path dispatch, the platform's key check, no
dependency solving): the body is parsed with ``orjson`` and validated by the strict pydantic
models of ``ssmas.campaigns.quality.schemas``; one lead is scored on the event loop (a fraction
of a millisecond through the compiled forest), a batch in a worker thread. Refusals use the
platform's error shape: 415 not JSON, 400 empty or malformed JSON (NaN included), 422 a field
missing, of the wrong type or out of bounds, an unknown LADA, columns of different lengths or
more than 10,000 leads (one detail per problem), 413 past the body limit, 503 while no
lead-quality model has been trained (``ssmas campaigns quality train``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.quality.fast import FastScorer, Scores
from ssmas.campaigns.quality.features import LEAD_FIELDS, LeadFeatureError, lead_matrix, lead_row
from ssmas.campaigns.quality.runtime import quality_runtime
from ssmas.campaigns.quality.schemas import MAX_BATCH, Lead, LeadBatch, LeadScore, LeadScores
from ssmas.core.api import ApiError
from ssmas.core.api.errors import error_response, error_responses
from ssmas.core.api.lean import lean_route
from ssmas.core.security.keys import ApiKeyRecord

__all__ = ["router"]

READ = "campaigns:read"
router = APIRouter(tags=["campaigns"])
_BODY = TypeAdapter(Lead | LeadBatch)  # type: ignore[valid-type]


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _validation(exc: ValidationError) -> _Refused:
    details = [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False)[:20]
    ]
    first = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    more = len(exc.errors()) - 3
    message = first + (f"; and {more} more problems" if more > 0 else "")
    return _Refused(422, "invalid_request", message, details)


def _parse(body: bytes) -> BaseModel:
    if not body.strip():
        raise _Refused(400, "empty_body", "request body is empty: send one lead or a batch")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _Refused(400, "invalid_json", "request body is not valid JSON (NaN is not JSON)")
    if not isinstance(data, dict):
        raise _Refused(
            422, "invalid_request", 'send a JSON object: one lead, or {"columns": {...}}'
        )
    try:
        if "columns" in data:
            return LeadBatch.model_validate(data)
        return Lead.model_validate(data)
    except ValidationError as exc:
        raise _validation(exc) from None


def _rounded(values: np.ndarray, digits: int) -> list[float]:
    return np.round(values, digits).tolist()  # type: ignore[no-any-return]


def _score_batch(scorer: FastScorer, columns: Any) -> tuple[Scores, int]:
    frame = pd.DataFrame({name: getattr(columns, name) for name in LEAD_FIELDS})
    return scorer.score(lead_matrix(frame)), len(frame)


async def _scorer(request: Request) -> FastScorer:
    platform = request.app.state.platform
    runtime = platform.runtimes.get("campaigns.quality")
    if runtime is None:  # first request: load the champion off the event loop
        runtime = await run_in_threadpool(quality_runtime, platform)
    runtime.maybe_refresh()
    if runtime.scorer is None:
        raise ApiError(
            503,
            "unavailable",
            "no lead-quality model yet: run `ssmas campaigns quality train`",
        )
    return runtime.scorer  # type: ignore[no-any-return]


@lean_route(
    router,
    "POST",
    "/campaigns/quality/score",
    scope=READ,
    response_model=LeadScore | LeadScores,
    responses=error_responses(400, 401, 403, 413, 415, 422, 429, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BODY.json_schema()}},
        }
    },
    summary=f"Lead quality of one lead, or of up to {MAX_BATCH} leads given as columns",
)
async def score_leads(request: Request, _key: ApiKeyRecord) -> Response:
    """The seed's ensemble (XGBoost, LightGBM, MLP, gradient boosting) weighted by
    cross-validated skill: quality 0-100, spread between the members and confidence."""
    content_type = request.headers.get("content-type")
    if content_type and content_type.split(";", 1)[0].strip().lower() != "application/json":
        return error_response(request, 415, "unsupported_media_type", "send application/json")
    try:
        payload = _parse(await request.body())
        scorer = await _scorer(request)
        if isinstance(payload, LeadBatch):
            scores, count = await run_in_threadpool(_score_batch, scorer, payload.columns)
            body: dict[str, Any] = {
                "count": count,
                "model_version": scorer.version,
                "lead_id": payload.columns.lead_id,  # type: ignore[attr-defined]
                "quality": _rounded(scores.quality, 2),
                "spread": _rounded(scores.spread, 2),
                "confidence": _rounded(scores.confidence, 4),
            }
        else:
            one = scorer.score(lead_row(payload.model_dump()))
            body = {
                "lead_id": payload.lead_id,  # type: ignore[attr-defined]
                "quality": round(float(one.quality[0]), 2),
                "spread": round(float(one.spread[0]), 2),
                "confidence": round(float(one.confidence[0]), 4),
                "model_version": scorer.version,
            }
    except _Refused as refused:
        extra = {"details": refused.details} if refused.details else {}
        return error_response(request, refused.status, refused.code, refused.message, **extra)
    except LeadFeatureError as exc:
        return error_response(request, 422, "invalid_request", str(exc))
    return Response(orjson.dumps(body), media_type="application/json")
