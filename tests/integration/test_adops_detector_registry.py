"""A trained detector goes through the MLflow registry: pending, approved, picked up live."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


@pytest.mark.slow
def test_cli_and_api_train_list_and_approve(settings: Settings, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from ssmas.adops.commands import adops_app
    from ssmas.bootstrap import create_app
    from ssmas.core.security.keys import create_api_key
    from ssmas.settings import use_settings

    runner = CliRunner()
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(json.dumps(m) for m in day_of_messages()) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ts": "2024-10-21T00:00:00"}\nnot json\n')
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(json.dumps(m) for m in day_of_messages(60)) + "\n")
    with use_settings(settings):
        result = runner.invoke(adops_app, ["train-detector", "--messages", str(bad)])
        assert result.exit_code == 2 and "bad.jsonl:2: not a JSON object" in result.output
        result = runner.invoke(adops_app, ["train-detector", "--messages", str(short)])
        assert result.exit_code == 2 and "nothing to train on" in result.output
        result = runner.invoke(adops_app, ["train-detector", "--messages", str(history)])
        assert result.exit_code == 0, result.output
        assert "v1 registered (PendingManualApproval)" in result.output
        listed = runner.invoke(adops_app, ["detector-versions"])
        assert listed.exit_code == 0 and "PendingManualApproval" in listed.output
        result = runner.invoke(adops_app, ["approve-detector", "7"])
        assert result.exit_code == 2 and "no version 7" in result.output
        assert (
            runner.invoke(adops_app, ["train-detector", "--messages", str(history)]).exit_code == 0
        )

    platform = build_platform(settings.model_copy(update={"rate_limit_burst": 1000}))
    try:
        with platform.uow() as uow:
            admin, _ = create_api_key(uow.session, "lead", ["adops:admin", "adops:read"])
            reader, _ = create_api_key(uow.session, "ana", ["adops:read", "adops:write"])
            uow.commit()
        with TestClient(create_app(platform)) as client:
            url = "/adops/detector/versions"
            r = client.post(f"{url}/1/approve", headers={"X-API-Key": reader})
            assert r.status_code == 403
            r = client.post(f"{url}/1/approve", headers={"X-API-Key": admin})
            assert r.status_code == 200 and r.json()["approval"] == "Approved"
            assert r.json()["by"] == "lead"
            r = client.post(f"{url}/1/approve", headers={"X-API-Key": admin})
            assert r.status_code == 409 and "not pending" in r.text
            r = client.post(f"{url}/42/approve", headers={"X-API-Key": admin})
            assert r.status_code == 404
            r = client.post(f"{url}/one/approve", headers={"X-API-Key": admin})
            assert r.status_code == 422
            r = client.post(f"{url}/2/approve", json={"reject": True}, headers={"X-API-Key": admin})
            assert r.status_code == 200 and r.json()["approval"] == "Rejected"
            body = client.get(url, headers={"X-API-Key": reader}).json()
            states = {v["version"]: v["approval"] for v in body["versions"]}
            assert states == {1: "Approved", 2: "Rejected"}
    finally:
        platform.close()
