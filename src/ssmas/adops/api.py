"""AdOps JSON API: incidents (list, filter, detail with timeline, ack, state, resolve, notes),
silences and maintenance windows, posted series and the detector's view of any series.

Reads need ``adops:read``; changes need ``adops:write`` (the key's name is the actor on the
timeline). Posted points go on the bus (``adops.series``) and the stream worker windows and
scores them; ``POST /adops/detect`` scores a series right away with the NAB-scored detector.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ssmas.adops.incidents import IncidentError, IncidentNotFound, IncidentService
from ssmas.adops.runtime import incident_service
from ssmas.adops.stream.job import SERIES_TOPIC, load_checkpoint
from ssmas.core.api import require_scope
from ssmas.core.api.deps import PlatformDep
from ssmas.core.api.errors import Conflict, DomainError, NotFound, error_responses
from ssmas.core.bus import BusError
from ssmas.core.platform import Platform
from ssmas.core.security.keys import ApiKeyRecord

router = APIRouter(prefix="/adops", tags=["adops"])
READ = [Depends(require_scope("adops:read"))]
WriteKey = Annotated[ApiKeyRecord, Depends(require_scope("adops:write"))]
IncidentId = Annotated[
    str, Path(min_length=5, max_length=40, pattern=r"^inc-[0-9]{12}-[0-9a-f]{12}$")
]
SeriesName = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
Severity = Literal["critical", "high", "medium", "low"]
StateName = Literal["open", "triaged", "mitigating", "resolved", "escalated"]


def _bounded(at: datetime) -> datetime:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if not EARLIEST <= at < LATEST:
        raise ValueError("timestamps must be between 2000 and 2100")
    return at.astimezone(UTC)


Stamp = Annotated[datetime, AfterValidator(_bounded)]


def _service(platform: Platform) -> IncidentService:
    return incident_service(platform)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except IncidentNotFound as exc:
        raise NotFound(message=str(exc)) from None
    except IncidentError as exc:
        raise Conflict("invalid_request", str(exc)) from None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000)


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: StateName
    note: str = Field(default="", max_length=5000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=5000)


class SilenceIn(BaseModel):
    """Alerts matching every matcher (``entity_id`` may end in ``*``) open no incident between
    ``starts_at`` and ``ends_at``; a maintenance window may match everything."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["silence", "maintenance"] = "silence"
    matchers: dict[
        Literal["entity_type", "entity_id", "problem_type", "fingerprint", "source"],
        Annotated[str, Field(min_length=1, max_length=200)],
    ] = Field(default_factory=dict)
    starts_at: Stamp
    ends_at: Stamp
    comment: str = Field(default="", max_length=2000)


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timestamp: Stamp
    value: float | None = Field(allow_inf_nan=False, description="null: a missing value")


class PointsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: list[PointIn] = Field(min_length=1, max_length=10_000)
    flush: bool = Field(False, description="close the series' last minute now (end of input)")


class DetectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: list[float | None] = Field(min_length=1, max_length=100_000)


@router.get("/incidents", dependencies=READ, responses=error_responses(401, 403, 422))
def list_incidents(
    platform: PlatformDep,
    state: StateName | None = None,
    severity: Severity | None = None,
    entity: Annotated[str | None, Query(max_length=300, description="type/id prefix")] = None,
    problem_type: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Incidents, newest first, filtered by state, severity, entity prefix or problem type."""
    return list(
        _service(platform).list_incidents(
            state=state,
            severity=severity,
            entity=entity,
            problem_type=problem_type,
            limit=limit,
            offset=offset,
        )
    )


@router.get(
    "/incidents/{incident_id}", dependencies=READ, responses=error_responses(401, 403, 404, 422)
)
def get_incident(incident_id: IncidentId, platform: PlatformDep) -> dict[str, Any]:
    """One incident with its alerts and its timeline (alerts, notes, state changes)."""
    result: dict[str, Any] = _call(_service(platform).get, incident_id)
    return result


@router.post("/incidents/{incident_id}/ack", responses=error_responses(401, 403, 404, 409, 422))
def acknowledge(incident_id: IncidentId, platform: PlatformDep, key: WriteKey) -> dict[str, Any]:
    """Acknowledge: someone is on it (an open incident becomes triaged)."""
    result: dict[str, Any] = _call(_service(platform).acknowledge, incident_id, actor=key.name)
    return result


@router.post("/incidents/{incident_id}/state", responses=error_responses(401, 403, 404, 409, 422))
def move(
    incident_id: IncidentId, body: MoveIn, platform: PlatformDep, key: WriteKey
) -> dict[str, Any]:
    """Move the incident (open, triaged, mitigating, resolved, escalated); 409 when the move
    is not allowed from its state."""
    result: dict[str, Any] = _call(
        _service(platform).move, incident_id, body.state, actor=key.name, note=body.note
    )
    return result


@router.post("/incidents/{incident_id}/resolve", responses=error_responses(401, 403, 404, 409, 422))
def resolve(
    incident_id: IncidentId, body: ResolveIn, platform: PlatformDep, key: WriteKey
) -> dict[str, Any]:
    """Resolve the incident (final: a later alert opens a new one)."""
    result: dict[str, Any] = _call(
        _service(platform).resolve, incident_id, actor=key.name, note=body.note
    )
    return result


@router.post(
    "/incidents/{incident_id}/notes",
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def add_note(
    incident_id: IncidentId, body: NoteIn, platform: PlatformDep, key: WriteKey
) -> dict[str, Any]:
    """Add a note to the incident's timeline."""
    result: dict[str, Any] = _call(
        _service(platform).add_note, incident_id, actor=key.name, text=body.text
    )
    return result


@router.get("/silences", dependencies=READ, responses=error_responses(401, 403, 422))
def list_silences(platform: PlatformDep) -> list[dict[str, Any]]:
    """Silences and maintenance windows, latest first."""
    return list(_service(platform).list_silences())


@router.post("/silences", status_code=201, responses=error_responses(401, 403, 409, 422))
def create_silence(body: SilenceIn, platform: PlatformDep, key: WriteKey) -> dict[str, Any]:
    """Create a silence or a maintenance window."""
    result: dict[str, Any] = _call(
        _service(platform).create_silence,
        kind=body.kind,
        matchers={str(k): v for k, v in body.matchers.items()},
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        actor=key.name,
        comment=body.comment,
    )
    return result


@router.post(
    "/series/{name}/points", status_code=202, responses=error_responses(401, 403, 422, 503)
)
def post_points(
    name: SeriesName, body: PointsIn, platform: PlatformDep, _key: WriteKey
) -> dict[str, Any]:
    """Accept ``timestamp,value`` points of a series; the stream job windows and scores them
    (1-minute tumbling windows, 5-minute sliding), and their alerts become incidents."""
    payload = {
        "series": name,
        "points": [[p.timestamp.isoformat(), p.value] for p in body.points],
        "flush": body.flush,
    }
    try:
        message_id = platform.bus.publish(SERIES_TOPIC, payload)
    except BusError as exc:
        raise DomainError("bus_unavailable", f"could not accept the points: {exc}", 503) from None
    return {"accepted": len(body.points), "message_id": message_id}


@router.get("/series", dependencies=READ, responses=error_responses(401, 403, 422))
def list_series(
    platform: PlatformDep,
    prefix: Annotated[str, Query(max_length=300)] = "",
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[str]:
    """Series the stream job has seen (as of its last checkpoint): ``type/id/metric``."""
    processor, _ = load_checkpoint(platform.engine)
    return [k for k in processor.series_keys() if k.startswith(prefix)][:limit]


@router.get("/series/scores", dependencies=READ, responses=error_responses(401, 403, 404, 422))
def series_scores(
    platform: PlatformDep, key: Annotated[str, Query(min_length=3, max_length=300)]
) -> dict[str, Any]:
    """The recent closed minutes of a series with the stream detector's scores and anomalies."""
    processor, _ = load_checkpoint(platform.engine)
    history = processor.series_history(key)
    if history is None:
        raise NotFound(message=f"no series {key!r} in the stream's state")
    values = [None if v != v else v for v in history["value"]]
    anomalies = [t for t, s in zip(history["ts"], history["score"], strict=True) if s >= 0.5]
    return {
        "key": key,
        "ts": history["ts"],
        "value": values,
        "score": history["score"],
        "anomalies": anomalies,
    }


@router.post("/detect", dependencies=READ, responses=error_responses(401, 403, 422))
def detect(body: DetectIn) -> dict[str, Any]:
    """Score a whole series with the NAB-scored detector (``ssmas.adops.detect``): a score in
    [0, 1] per value (null is a missing value) and the positions above the NAB threshold."""
    from ssmas.adops.detect import score_series
    from ssmas.adops.web_support import nab_threshold

    values = np.array([np.nan if v is None else v for v in body.values], dtype=np.float64)
    scores = score_series(values)
    threshold = nab_threshold()
    return {
        "scores": [round(float(s), 6) for s in scores],
        "threshold": threshold,
        "anomalies": [int(i) for i in np.flatnonzero(scores >= threshold)],
    }


# ---- the stream detector's trained versions (registry, approval) ------------------------------
AdminKey = Annotated[ApiKeyRecord, Depends(require_scope("adops:admin"))]
Version = Annotated[str, Path(min_length=1, max_length=9, pattern=r"^[1-9][0-9]*$")]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reject: bool = False


def _decide(platform: Platform, version: str, actor: str, reject: bool) -> dict[str, Any]:
    from ssmas.adops.runtime import detector_registry
    from ssmas.adops.stream.registry import (
        MODEL_NAME,
        DetectorApprovalError,
        approve_detector,
        reject_detector,
    )

    registry = detector_registry(platform)
    try:
        decide = reject_detector if reject else approve_detector
        number = decide(registry, version, actor=actor)
    except DetectorApprovalError as exc:
        message = str(exc)
        if "has no version" in message or "positive integer" in message:
            raise NotFound(message=message) from None
        raise Conflict("invalid_request", message) from None
    return {
        "model": MODEL_NAME,
        "version": number,
        "approval": "Rejected" if reject else "Approved",
        "by": actor,
    }


@router.get("/detector/versions", dependencies=READ, responses=error_responses(401, 403, 422))
def detector_versions(platform: PlatformDep) -> dict[str, Any]:
    """The stream detector's registered versions (trained by ``ssmas adops train-detector``)
    with their approval state (``PendingManualApproval``, ``Approved``, ``Rejected``)."""
    from ssmas.adops.runtime import detector_registry
    from ssmas.adops.stream.registry import MODEL_NAME
    from ssmas.adops.stream.registry import detector_versions as versions

    return {"model": MODEL_NAME, "versions": versions(detector_registry(platform))}


@router.post(
    "/detector/versions/{version}/approve", responses=error_responses(401, 403, 404, 409, 422)
)
def approve_detector_version(
    version: Version, platform: PlatformDep, key: AdminKey, body: DecisionIn | None = None
) -> dict[str, Any]:
    """Approve (or, with ``{"reject": true}``, reject) a version pending approval; approved,
    it becomes the champion and the stream worker scores with it (``adops:admin``)."""
    return _decide(platform, version, key.name, bool(body and body.reject))
