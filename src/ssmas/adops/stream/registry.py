"""The stream detector's model in the model registry, with approval before it goes live.

The seed's training pipeline registers its anomaly model with ``ModelApprovalStatus:
PendingManualApproval``; here ``ssmas adops train-detector`` fits a
:class:`~ssmas.adops.stream.model.DetectorModel` from history and registers it in the core's
MLflow registry (:mod:`ssmas.core.registry`, the same one pricing uses) as a new version of
``adops-detector`` tagged ``ssmas.approval = PendingManualApproval`` and aliased ``challenger``.
Nothing serves it yet. ``ssmas adops approve-detector VERSION`` (or ``POST
/adops/detector/versions/{version}/approve``) records who approved it, moves the ``champion``
alias (the registry remembers the one it replaced for a rollback) and the registry announces
the change on the bus topic ``registry.models``; the stream worker, which reads that topic by
offset like its metric topics, loads the champion and scores with it from its next batch.
A version can also be rejected: it stays in the registry, never served.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ssmas.adops.stream.model import DetectorModel, History, TrainingConfig, fit_detector
from ssmas.adops.stream.online import StreamDetectorConfig
from ssmas.core.registry import CHALLENGER, CHAMPION, ModelNotFound, ModelRegistry
from ssmas.core.registry.events import MODEL_CHANGED

MODEL_NAME = "adops-detector"
APPROVAL_TAG = "ssmas.approval"
APPROVED_BY_TAG = "ssmas.approved_by"
PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
SCHEMA = {
    "version": "adops-detector-1",
    "features": [{"name": "series", "type": "string"}, {"name": "ts", "type": "long"}],
}
_VERSION = re.compile(r"^[1-9][0-9]{0,8}$")


class DetectorApprovalError(ValueError):
    """An approval that cannot be made (unknown version, already decided, ...)."""


def _python_model(payload: bytes) -> Any:
    """An MLflow ``PythonModel`` holding the model's ``.npz`` bytes; as a pyfunc it answers
    the seasonal level of ``(series, ts)`` rows (what the stream subtracts)."""
    import mlflow.pyfunc

    class AdopsDetectorModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        def __init__(self, data: bytes) -> None:
            self.payload = data

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            import numpy as np

            model = DetectorModel.from_bytes(self.payload)
            out = []
            for key, ts in zip(model_input["series"], model_input["ts"], strict=True):
                row = model.index.get(str(key))
                if row is None:
                    out.append(math.nan)
                else:
                    rows = np.array([row], dtype=np.int64)
                    out.append(float(model.level(rows, int(ts))[0]))
            return out

    return AdopsDetectorModel(payload)


def register_detector(
    registry: ModelRegistry,
    history: History,
    *,
    training: TrainingConfig | None = None,
    config: StreamDetectorConfig | None = None,
    floors: Mapping[str, float] | None = None,
    source: str = "",
) -> tuple[int, DetectorModel]:
    """Fit a model on ``history`` and register it pending approval; returns its version."""
    model = fit_detector(history, training=training, config=config, floors=floors)
    params = {
        k: v for k, v in model.training.items() if isinstance(v, int | float | str) and k != "to"
    }
    params["source"] = source or "history"
    info = registry.log_model(
        MODEL_NAME,
        _python_model(model.to_bytes()),
        flavor="pyfunc",
        feature_schema=SCHEMA,
        metrics=model.metrics,
        params=params,
        tags={"ssmas.product": "adops"},
    )
    registry.set_version_tag(MODEL_NAME, info.version, APPROVAL_TAG, PENDING)
    registry.set_alias(MODEL_NAME, CHALLENGER, info.version)
    return info.version, model


def _version(version: int | str) -> int:
    text = str(version).strip()
    if not _VERSION.match(text):
        raise DetectorApprovalError(f"version must be a positive integer, not {text[:20]!r}")
    return int(text)


def _approval(registry: ModelRegistry, version: int) -> str:
    try:
        info = registry.get_version(MODEL_NAME, version)
    except ModelNotFound:
        raise DetectorApprovalError(f"{MODEL_NAME} has no version {version}") from None
    return info.tags.get(APPROVAL_TAG, "")


def approve_detector(registry: ModelRegistry, version: int | str, *, actor: str) -> int:
    """Approve a pending version: it becomes the champion the stream scores with."""
    number = _version(version)
    if not actor.strip():
        raise DetectorApprovalError("an approval needs the approver's identity")
    state = _approval(registry, number)
    if state != PENDING:
        raise DetectorApprovalError(
            f"{MODEL_NAME} v{number} is not pending approval (it is {state or 'untagged'})"
        )
    registry.set_version_tag(MODEL_NAME, number, APPROVED_BY_TAG, actor)
    registry.set_version_tag(MODEL_NAME, number, "ssmas.approved_at", datetime.now(UTC).isoformat())
    registry.set_version_tag(MODEL_NAME, number, APPROVAL_TAG, APPROVED)
    registry.promote(MODEL_NAME, number)
    return number


def reject_detector(registry: ModelRegistry, version: int | str, *, actor: str) -> int:
    """Reject a pending version: it stays in the registry and is never served."""
    number = _version(version)
    state = _approval(registry, number)
    if state != PENDING:
        raise DetectorApprovalError(
            f"{MODEL_NAME} v{number} is not pending approval (it is {state or 'untagged'})"
        )
    registry.set_version_tag(MODEL_NAME, number, APPROVAL_TAG, REJECTED)
    registry.set_version_tag(MODEL_NAME, number, APPROVED_BY_TAG, actor)
    challenger = registry.get_version_by_alias(MODEL_NAME, CHALLENGER)
    if challenger is not None and challenger.version == number:
        registry.delete_alias(MODEL_NAME, CHALLENGER)
    return number


def detector_versions(registry: ModelRegistry) -> list[dict[str, Any]]:
    """Every version with its approval state, aliases and training metrics, newest first."""
    return [
        {
            "version": v.version,
            "approval": v.tags.get(APPROVAL_TAG, ""),
            "approved_by": v.tags.get(APPROVED_BY_TAG),
            "aliases": v.aliases,
            "metrics": v.metrics,
            "created_at": v.created_at.isoformat(),
        }
        for v in reversed(registry.list_versions(MODEL_NAME))
    ]


def load_active_detector(registry: ModelRegistry) -> tuple[str, DetectorModel] | None:
    """The approved champion ``(version, model)``, or None when none was approved yet."""
    info = registry.get_version_by_alias(MODEL_NAME, CHAMPION)
    if info is None or info.tags.get(APPROVAL_TAG) != APPROVED:
        return None
    loaded = registry.load(MODEL_NAME, info.version)
    python_model = loaded.unwrap_python_model()
    return str(info.version), DetectorModel.from_bytes(python_model.payload)


def is_detector_change(payload: Mapping[str, Any]) -> bool:
    """A registry event that may change which detector version serves."""
    return (
        payload.get("event") == MODEL_CHANGED
        and payload.get("model") == MODEL_NAME
        and payload.get("change") in {"promoted", "rolled_back", "alias_set", "alias_deleted"}
    )
