"""A trained detector goes through the MLflow registry: pending, approved, picked up live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ssmas.adops.runtime import detector_registry, stream_job
from ssmas.adops.stream.job import METRICS_TOPIC, StreamJob
from ssmas.adops.stream.model import history_from_messages
from ssmas.adops.stream.registry import (
    APPROVAL_TAG,
    APPROVED,
    MODEL_NAME,
    PENDING,
    REJECTED,
    DetectorApprovalError,
    approve_detector,
    detector_versions,
    load_active_detector,
    register_detector,
    reject_detector,
)
from ssmas.core.platform import build_platform
from ssmas.core.registry import CHALLENGER, CHAMPION
from ssmas.settings import Settings

START = datetime(2024, 10, 21, tzinfo=UTC)


def day_of_messages(minutes: int = 1500) -> list[dict[str, object]]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(minutes):
        swing = np.sin(2 * np.pi * i / 1440.0)
        out.append(
            {
                "ts": (START + timedelta(minutes=i)).isoformat(),
                "entity_type": "exchange",
                "entity_id": "exchange",
                "capacity_utilisation": float(0.5 + 0.3 * swing + rng.normal(0, 0.005)),
                "requests": float(5000 + 3000 * swing + rng.normal(0, 40)),
            }
        )
    return out


@pytest.mark.slow
def test_train_approve_and_the_stream_worker_picks_it_up(settings: Settings) -> None:
    platform = build_platform(settings)
    try:
        registry = detector_registry(platform)
        history = history_from_messages(day_of_messages())
        version, model = register_detector(registry, history, source="test")
        assert sorted(model.keys) == [
            "exchange/exchange/capacity_utilisation",
            "exchange/exchange/requests",
        ]
        info = registry.get_version(MODEL_NAME, version)
        assert info.tags[APPROVAL_TAG] == PENDING and CHALLENGER in info.aliases
        # pending: nothing serves it, and the worker keeps the online baseline
        assert load_active_detector(registry) is None
        job = stream_job(platform)
        assert job.processor.model is None
        for message in day_of_messages(90):
            platform.bus.publish(METRICS_TOPIC, message)
        job.poll()
        assert job.processor.model is None

        assert approve_detector(registry, str(version), actor="ops@example.com") == version
        approved = registry.get_version(MODEL_NAME, version)
        assert approved.tags[APPROVAL_TAG] == APPROVED
        assert approved.tags["ssmas.approved_by"] == "ops@example.com"
        assert CHAMPION in approved.aliases
        # the registry's bus event reaches the running worker at its next poll
        job.poll()
        assert job.processor.model_version == str(version)
        assert job.processor.model is not None and len(job.processor.model.keys) == 2
        job.checkpoint(force=True)
        # a restarted worker resumes with the approved model from its checkpoint
        again = StreamJob(platform.engine, platform.bus, job.incidents)
        assert again.processor.model_version == str(version)

        # decisions are final; unknown or malformed versions are refused with a reason
        with pytest.raises(DetectorApprovalError, match="not pending"):
            approve_detector(registry, version, actor="ops@example.com")
        with pytest.raises(DetectorApprovalError, match="no version 99"):
            approve_detector(registry, 99, actor="ops@example.com")
        with pytest.raises(DetectorApprovalError, match="positive integer"):
            approve_detector(registry, "v1; drop", actor="ops@example.com")
        with pytest.raises(DetectorApprovalError, match="identity"):
            approve_detector(registry, version, actor=" ")

        second, _ = register_detector(registry, history)
        assert reject_detector(registry, second, actor="ops@example.com") == second
        rows = {r["version"]: r for r in detector_versions(registry)}
        assert rows[second]["approval"] == REJECTED and rows[version]["approval"] == APPROVED
        active = load_active_detector(registry)
        assert active is not None and active[0] == str(version)
    finally:
        platform.close()
