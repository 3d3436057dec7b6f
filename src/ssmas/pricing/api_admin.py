"""Pricing admin routes: models (versions, promote, rollback, split), floor configs, ad units' own
floors on the live exchange, monitoring.

Reads need ``pricing:read``; changes need ``pricing:admin`` and are written to the audit log;
a promotion or rollback is also recorded as a workflow decision and notified (pricing alerts).
A promotion or rollback moves the registry alias, tells every serving process through the
``pricing.models`` topic and reloads this process before answering, so the next prediction
here is priced by the new champion. The traffic split is a per-process setting (its default
comes from ``SSMAS_PRICING_CHALLENGER_SHARE``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool

from ssmas.core.api import ApiError, require_scope
from ssmas.core.api.bounds import MAX_ID
from ssmas.core.api.deps import PlatformDep
from ssmas.core.bus import BusError
from ssmas.core.registry import ModelNotFound, ModelVersionInfo, RegistryError
from ssmas.core.security.audit import record_audit
from ssmas.core.security.keys import ApiKeyRecord
from ssmas.pricing.floors.formula import PublisherFloorConfig
from ssmas.pricing.floors.unit_floors import (
    MAX_UNIT_FLOOR,
    UnitFloorError,
    UnknownAdUnit,
    unit_floors,
)
from ssmas.pricing.lifecycle.promotion import record_operator_change
from ssmas.pricing.lifecycle.retraining import RetrainDeps
from ssmas.pricing.schemas import ErrorResponse
from ssmas.pricing.serving.hot_reload import MODEL_PROMOTED, MODEL_ROLLED_BACK, publish_model_event
from ssmas.pricing.serving.request_bodies import BodyRejected, body_doc, read_json
from ssmas.pricing.serving.runtime import ServingRuntime, ServingRuntimeDep
from ssmas.pricing.variants import VariantSplit

_log = structlog.get_logger(__name__)
AdminKey = Annotated[ApiKeyRecord, Depends(require_scope("pricing:admin"))]
READ = [Depends(require_scope("pricing:read"))]
PublisherId = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"),
]
WindowMinutes = Annotated[float, Query(gt=0, le=7 * 24 * 60, description="window length")]
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 409, 415, 422)
}


class PromoteRequest(BaseModel):
    """The version to make champion; omitted: the current challenger."""

    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(ge=1, le=MAX_ID, strict=True)] | None = None


class SplitRequest(BaseModel):
    """Share of impressions the challenger prices, and whether it prices any."""

    model_config = ConfigDict(extra="forbid")

    challenger_share: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    challenger_enabled: bool = True


PROMOTE = TypeAdapter(PromoteRequest)
SPLIT = TypeAdapter(SplitRequest)
FLOOR_CONFIG = TypeAdapter(PublisherFloorConfig)

admin_router = APIRouter(tags=["pricing admin"])


def _json(body: Any, status: int = 200) -> Response:
    return Response(to_json(body), status_code=status, media_type="application/json")


def serving_summary(runtime: ServingRuntime) -> dict[str, Any]:
    """What this process serves: models per variant, split, timeout and live per-variant stats."""
    service = runtime.service
    slots = {}
    for variant in ("champion", "challenger"):
        slot = service.slot(variant)  # type: ignore[arg-type]
        slots[variant] = (
            None
            if slot is None
            else {
                "version": slot.version,
                "loaded_at": slot.loaded_at.isoformat(),
                "metrics": slot.scorer.metrics,
            }
        )
    split = service.split
    return {
        "models": slots,
        "split": {
            "challenger_share": split.challenger_share,
            "challenger_enabled": split.challenger_enabled,
            "challenger_serving": "challenger" in {v for v, s in slots.items() if s},
        },
        "timeout_ms": runtime.config.timeout_ms,
        "loader_error": runtime.loader.last_error,
        **service.stats.as_dict(),
    }


@admin_router.get("/v2/models", dependencies=READ, responses=ERRORS)
async def models(runtime: ServingRuntimeDep) -> Response:
    """Registered versions (aliases, metrics), what this process serves, live per-variant stats."""
    registry = runtime.loader.registry
    name = runtime.config.registry_model
    versions: list[ModelVersionInfo] = []
    if registry is not None:
        try:
            versions = await run_in_threadpool(registry.list_versions, name)
        except RegistryError as exc:
            raise ApiError(503, "registry_unavailable", str(exc)[:300]) from exc
    return _json(
        {
            "model": name,
            "versions": [v.model_dump(mode="json") for v in versions],
            "serving": serving_summary(runtime),
        }
    )


async def _change_champion(
    runtime: ServingRuntime, key: ApiKeyRecord, version: int | None
) -> Response:
    registry = runtime.loader.registry
    name = runtime.config.registry_model
    if registry is None:
        raise ApiError(404, "no_models", f"no model {name!r} has been registered yet")

    def change() -> ModelVersionInfo:
        if version is None:
            return registry.rollback(name)
        return registry.promote(name, version)

    try:
        info = await run_in_threadpool(change)
    except ModelNotFound as exc:
        raise ApiError(404, "model_not_found", str(exc)[:300]) from exc
    except RegistryError as exc:
        raise ApiError(409, "registry_refused", str(exc)[:300]) from exc
    event = MODEL_ROLLED_BACK if version is None else MODEL_PROMOTED
    platform = runtime.platform
    try:
        await run_in_threadpool(
            publish_model_event,
            platform.bus,
            event,
            model=name,
            version=info.version,
            actor=key.name,
        )
    except BusError as exc:  # this process still reloads; others catch up on their next poll
        _log.warning("pricing_model_event_not_published", error=str(exc)[:300])

    def audit() -> None:
        with platform.uow() as uow:
            record_audit(
                uow.session,
                actor=f"apikey:{key.prefix}",
                action=f"pricing.{'rollback' if version is None else 'promote'}",
                target=f"{name}/{info.version}",
                details={"event": event},
            )
            uow.commit()
        deps = RetrainDeps(
            registry, platform.session_factory, platform.bus, alerts=runtime.monitor.alerts
        )
        record_operator_change(
            deps, rolled_back=version is None, version=info.version, actor=f"apikey:{key.prefix}"
        )

    await run_in_threadpool(audit)
    await run_in_threadpool(runtime.loader.refresh)
    return _json({"champion": info.model_dump(mode="json"), "serving": serving_summary(runtime)})


@admin_router.post("/v2/models/promote", responses=ERRORS, openapi_extra=body_doc(PROMOTE))
async def promote(request: Request, runtime: ServingRuntimeDep, key: AdminKey) -> Response:
    """Make a version (default: the challenger) champion in the registry and serve it."""
    try:
        body = await read_json(request, PROMOTE, expected="a JSON object")
    except BodyRejected as rejected:
        return rejected.response(request)
    version = body.version
    if version is None:
        registry = runtime.loader.registry
        name = runtime.config.registry_model
        info = None
        if registry is not None:
            info = await run_in_threadpool(registry.get_version_by_alias, name, "challenger")
        if info is None:
            raise ApiError(409, "no_challenger", "no challenger to promote: give a version")
        version = info.version
    return await _change_champion(runtime, key, version)


@admin_router.post("/v2/models/rollback", responses=ERRORS)
async def rollback(runtime: ServingRuntimeDep, key: AdminKey) -> Response:
    """Put back the champion the last promotion replaced."""
    return await _change_champion(runtime, key, None)


@admin_router.put("/v2/models/split", responses=ERRORS, openapi_extra=body_doc(SPLIT))
async def set_split(request: Request, runtime: ServingRuntimeDep, key: AdminKey) -> Response:
    """Change this process's champion / challenger split (sticky by impression id)."""
    try:
        body = await read_json(request, SPLIT, expected="a JSON object")
    except BodyRejected as rejected:
        return rejected.response(request)
    runtime.service.set_split(
        VariantSplit(
            challenger_share=body.challenger_share, challenger_enabled=body.challenger_enabled
        )
    )
    _log.info("pricing_split_changed", actor=key.prefix, **body.model_dump())
    return _json(serving_summary(runtime)["split"])


def _config_body(publisher_id: str, config: PublisherFloorConfig, stored: bool) -> dict[str, Any]:
    return {"publisher_id": publisher_id, "stored": stored, "config": config.model_dump()}


@admin_router.get("/v2/publishers/{publisher_id}/floor-config", dependencies=READ, responses=ERRORS)
async def get_floor_config(publisher_id: PublisherId, runtime: ServingRuntimeDep) -> Response:
    """The publisher's floor configuration (the seed's defaults when none is stored)."""
    stored = await run_in_threadpool(runtime.floors.stored, publisher_id)
    return _json(_config_body(publisher_id, stored or PublisherFloorConfig(), stored is not None))


@admin_router.put(
    "/v2/publishers/{publisher_id}/floor-config",
    responses=ERRORS,
    openapi_extra=body_doc(FLOOR_CONFIG),
)
async def put_floor_config(
    publisher_id: PublisherId, request: Request, runtime: ServingRuntimeDep, key: AdminKey
) -> Response:
    """Replace the publisher's floor configuration (whole object; omitted fields: defaults)."""
    try:
        config = await read_json(request, FLOOR_CONFIG, expected="a JSON object")
    except BodyRejected as rejected:
        return rejected.response(request)
    platform = runtime.platform

    def write() -> None:
        runtime.floors.put(publisher_id, config, at=datetime.now(UTC), actor=key.name)
        with platform.uow() as uow:
            record_audit(
                uow.session,
                actor=f"apikey:{key.prefix}",
                action="pricing.floor_config",
                target=publisher_id,
                details=config.model_dump(),
            )
            uow.commit()

    await run_in_threadpool(write)
    return _json(_config_body(publisher_id, config, True))


class UnitFloorRequest(BaseModel):
    """An ad unit's new floor (EUR CPM) and why it is set."""

    model_config = ConfigDict(extra="forbid")

    floor_eur: float = Field(ge=0.0, le=MAX_UNIT_FLOOR, allow_inf_nan=False)
    reason: str = Field(default="", max_length=500)


UNIT_FLOOR = TypeAdapter(UnitFloorRequest)
AdUnitId = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]


@admin_router.get("/v2/ad-units/{ad_unit_id}/floor", dependencies=READ, responses=ERRORS)
async def get_unit_floor(ad_unit_id: AdUnitId, platform: PlatformDep) -> Response:
    """An ad unit's own floor on the live exchange, its default and its last changes."""

    def read() -> dict[str, Any]:
        service = unit_floors(platform)
        return {**service.floor(ad_unit_id), "history": service.history(ad_unit_id, 20)}

    try:
        return _json(await run_in_threadpool(read))
    except UnknownAdUnit as exc:
        raise ApiError(404, "ad_unit_not_found", str(exc)) from exc


@admin_router.put(
    "/v2/ad-units/{ad_unit_id}/floor", responses=ERRORS, openapi_extra=body_doc(UNIT_FLOOR)
)
async def put_unit_floor(
    ad_unit_id: AdUnitId, request: Request, platform: PlatformDep, key: AdminKey
) -> Response:
    """Set an ad unit's own floor on the live exchange (a new control-plane version, audited
    under the key's name; the AdOps agents' floor rollback comes this way when pointed here)."""
    try:
        body = await read_json(request, UNIT_FLOOR, expected="a JSON object")
    except BodyRejected as rejected:
        return rejected.response(request)

    def write() -> dict[str, Any]:
        change = unit_floors(platform).set_floor(
            ad_unit_id, body.floor_eur, actor=key.name, reason=body.reason or "set by API"
        )
        return change.as_dict()

    try:
        return _json(await run_in_threadpool(write))
    except UnknownAdUnit as exc:
        raise ApiError(404, "ad_unit_not_found", str(exc)) from exc
    except UnitFloorError as exc:
        raise ApiError(422, "invalid_floor", str(exc)[:300]) from exc


@admin_router.get("/v2/monitoring/drift", dependencies=READ, responses=ERRORS)
async def drift(
    runtime: ServingRuntimeDep,
    window_minutes: WindowMinutes = 60.0,
    history: Annotated[int, Query(ge=0, le=500)] = 48,
) -> JSONResponse:
    """Drift of the last window of captured traffic now, and the stored drift history."""
    current = await run_in_threadpool(runtime.monitor.drift, window_minutes * 60.0)
    timeline = await run_in_threadpool(runtime.monitor.timeline, history)
    return JSONResponse({"current": current, "timeline": timeline})


@admin_router.get("/v2/monitoring/outcomes", dependencies=READ, responses=ERRORS)
async def realised(
    runtime: ServingRuntimeDep, window_minutes: WindowMinutes = 60.0
) -> JSONResponse:
    """Realised-CPM error and revenue per variant over the outcomes of the last window."""
    return JSONResponse(await run_in_threadpool(runtime.monitor.realised, window_minutes * 60.0))
