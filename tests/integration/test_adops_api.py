"""AdOps over HTTP: posted series through the bus and the stream job to incidents, the
incident actions and their errors (4xx with the error envelope, never a 500), the pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ssmas.adops.runtime import stream_job
from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security.keys import create_api_key
from ssmas.settings import Settings

T0 = datetime(2024, 10, 22, tzinfo=UTC)


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    built = build_platform(settings.model_copy(update={"rate_limit_burst": 1000}))
    yield built
    built.close()


def key(platform: Platform, scopes: list[str]) -> dict[str, str]:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, "ana", scopes)
        uow.commit()
    return {"X-API-Key": raw}


@pytest.fixture()
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as test_client:
        yield test_client


def points(values: list[float | None], first: int = 0) -> list[dict[str, object]]:
    return [
        {"timestamp": (T0 + timedelta(minutes=first + i, seconds=10)).isoformat(), "value": v}
        for i, v in enumerate(values)
    ]


def test_posted_series_become_an_incident_to_work_on(
    client: TestClient, platform: Platform
) -> None:
    writer = key(platform, ["adops:write", "adops:read"])
    rng = np.random.default_rng(3)
    normal: list[float | None] = [float(v) for v in 100 + rng.normal(0, 1, 150)]
    normal[20] = None  # a missing value
    r = client.post("/adops/series/orders/points", json={"points": points(normal)}, headers=writer)
    assert r.status_code == 202 and r.json()["accepted"] == 150
    drop = points([40.0] * 8, first=150)
    r = client.post(
        "/adops/series/orders/points", json={"points": drop, "flush": True}, headers=writer
    )
    assert r.status_code == 202
    job = stream_job(platform)
    while job.poll():
        pass
    job.checkpoint(force=True)

    listed = client.get("/adops/incidents", headers=writer).json()
    assert len(listed) == 1 and listed[0]["entity_id"] == "orders"
    iid = listed[0]["incident_id"]
    assert client.post(f"/adops/incidents/{iid}/ack", headers=writer).json()["state"] == "triaged"
    note = client.post(f"/adops/incidents/{iid}/notes", json={"text": "looking"}, headers=writer)
    assert note.status_code == 201
    done = client.post(f"/adops/incidents/{iid}/resolve", json={"note": "ok"}, headers=writer)
    assert done.json()["state"] == "resolved"
    again = client.post(f"/adops/incidents/{iid}/state", json={"state": "open"}, headers=writer)
    assert again.status_code == 409 and again.json()["error"] == "invalid_request"
    detail = client.get(f"/adops/incidents/{iid}", headers=writer).json()
    assert [t["kind"] for t in detail["timeline"]][:2] == ["state", "alert"]
    assert {"ack", "note"} <= {t["kind"] for t in detail["timeline"]}

    series = client.get("/adops/series", headers=writer).json()
    assert series == ["series/orders/value"]
    scores = client.get("/adops/series/scores", params={"key": series[0]}, headers=writer).json()
    assert len(scores["value"]) == 158 and scores["value"][20] is None
    assert scores["anomalies"]
    client.post("/login", data={"api_key": writer["X-API-Key"]})
    page = client.get("/dashboard/adops/series", params={"key": series[0]})
    assert page.status_code == 200 and "<svg" in page.text
    for path in (
        "/dashboard/adops/incidents",
        f"/dashboard/adops/incidents/{iid}",
        "/dashboard/adops/nab",
    ):
        assert client.get(path).status_code == 200, path


def test_bad_input_is_a_clear_4xx(client: TestClient, platform: Platform) -> None:
    writer = key(platform, ["adops:write", "adops:read"])
    reader = key(platform, ["adops:read"])
    missing = "inc-202410220000-0123456789ab"
    cases = [
        client.get(f"/adops/incidents/{missing}", headers=writer),
        client.post(f"/adops/incidents/{missing}/ack", headers=writer),
        client.get("/adops/incidents/not-an-id", headers=writer),
        client.post("/adops/series/x/points", json={"points": []}, headers=writer),
        client.post(
            "/adops/series/x/points",
            json={"points": [{"timestamp": "soon", "value": 1}]},
            headers=writer,
        ),
        client.post(
            "/adops/series/x/points", json={"points": points([1.0], first=10**8)}, headers=writer
        ),
        client.post("/adops/series/x/points", json={"points": points([1.0])}, headers=reader),
        client.get("/adops/series/scores", params={"key": "nope/x/y"}, headers=writer),
        client.post(
            "/adops/silences",
            json={
                "kind": "silence",
                "matchers": {},
                "starts_at": T0.isoformat(),
                "ends_at": (T0 + timedelta(hours=1)).isoformat(),
            },
            headers=writer,
        ),
        client.post("/adops/detect", json={"values": []}, headers=writer),
    ]
    statuses = [r.status_code for r in cases]
    assert statuses == [404, 404, 422, 422, 422, 422, 403, 404, 409, 422]
    for response in cases:
        assert set(response.json()) >= {"error", "message"}


@pytest.mark.parametrize(
    "values",
    [[1.0, 2.0, 3.0], [5.0] * 400, [None, 1.0, None, 2.0], [0.0] * 10 + [1e9]],
    ids=["three points", "constant", "gaps", "a lone spike"],
)
def test_detect_gives_sane_scores(
    client: TestClient, platform: Platform, values: list[float | None]
) -> None:
    reader = key(platform, ["adops:read"])
    body = client.post("/adops/detect", json={"values": values}, headers=reader).json()
    assert len(body["scores"]) == len(values)
    assert all(0.0 <= s <= 1.0 for s in body["scores"])
    if len(values) < 250:
        assert body["anomalies"] == []  # the detector's warm-up
