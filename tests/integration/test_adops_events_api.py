"""The event rules' API: scopes, rule list, pattern / rule tests, rule-file validation, publish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ssmas.adops.product import PRODUCT
from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security.keys import create_api_key
from ssmas.settings import AdopsSettings, Settings

EVENT = {
    "source": "adops.analytics",
    "detail-type": "Composite Anomaly Detected",
    "detail": {
        "severity": "CRITICAL",
        "metrics_affected": 4,
        "entity_id": "pub-7",
        "problem_type": "LATENCY_ISSUE",
    },
}


def key(platform: Platform, *scopes: str) -> dict[str, str]:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, "-".join(scopes) or "none", list(scopes))
        uow.commit()
    return {"X-API-Key": raw}


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    p = build_platform(settings.model_copy(update={"rate_limit_burst": 100_000}))
    yield p
    p.close()


@pytest.fixture()
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, products=[PRODUCT])) as c:
        yield c


def check(response: Any, status: int, code: str, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and fragment in body["message"], body


def test_scopes(client: TestClient, platform: Platform) -> None:
    read, write = key(platform, "adops:read"), key(platform, "adops:write")
    other = key(platform, "pricing:read")
    assert client.get("/adops/rules").status_code == 401
    check(client.get("/adops/rules", headers=other), 403, "forbidden")
    assert client.get("/adops/rules", headers=read).status_code == 200
    check(client.post("/adops/events", json=EVENT, headers=read), 403, "forbidden")
    assert client.post("/adops/events", json=EVENT, headers=write).status_code == 202


def test_rules_list_and_test(client: TestClient, platform: Platform) -> None:
    read = key(platform, "adops:read")
    body = client.get("/adops/rules", headers=read).json()
    assert [r["name"] for r in body["rules"]] == [
        "multi-metric-anomaly",
        "demand-partner-degradation",
        "security-incident-detected",
        "campaign-anomaly",
    ]

    answer = client.post(
        "/adops/rules/test", json={"rule": "multi-metric-anomaly", "event": EVENT}, headers=read
    ).json()
    assert answer["matches"] is True
    page = next(t for t in answer["targets"] if t["id"] == "critical-alerts")
    assert page["input"] == "CRITICAL LATENCY_ISSUE on pub-7"

    two = {**EVENT, "detail": {**EVENT["detail"], "metrics_affected": 2}}
    answer = client.post(
        "/adops/rules/test", json={"rule": "multi-metric-anomaly", "event": two}, headers=read
    ).json()
    assert answer["matches"] is False and answer["targets"] == []

    pattern = {"detail": {"entity_id": [{"prefix": "pub-"}]}}
    answer = client.post(
        "/adops/rules/test", json={"pattern": pattern, "event": EVENT}, headers=read
    ).json()
    assert answer["matches"] is True


def test_bad_input_is_a_4xx_naming_the_field(client: TestClient, platform: Platform) -> None:
    read = key(platform, "adops:read")
    write = key(platform, "adops:write")
    post = client.post
    check(
        post("/adops/rules/test", json={"rule": "nope", "event": EVENT}, headers=read),
        404,
        "rule_not_found",
        "nope",
    )
    check(
        post("/adops/rules/test", json={"pattern": {"a": "b"}, "event": EVENT}, headers=read),
        422,
        "invalid_pattern",
        "pattern: a:",
    )
    check(
        post(
            "/adops/rules/test",
            json={"pattern": {"a": ["b"]}, "event": {"source": "x"}},
            headers=read,
        ),
        422,
        "invalid_event",
        "detail-type",
    )
    check(post("/adops/rules/test", json={"event": EVENT}, headers=read), 422, "invalid_input")
    check(
        post("/adops/events", json={**EVENT, "time": "yesterday"}, headers=write),
        422,
        "invalid_event",
        "time",
    )
    check(
        post("/adops/events", json={**EVENT, "colour": "red"}, headers=write),
        422,
        "invalid_event",
        "colour",
    )
    check(
        post("/adops/events", json={**EVENT, "detail": {"n": 2**70}}, headers=write),
        422,
        "invalid_event",
        "detail",
    )
    check(
        post("/adops/events", content=b"{", headers={**write, "content-type": "application/json"}),
        400,
        "invalid_json",
    )
    bad = (
        "rules:\n  - name: r1\n    pattern: {source: [x]}\n    targets: [{id: t, type: webhook}]\n"
    )
    check(
        post("/adops/rules/validate", json={"yaml": bad}, headers=read),
        422,
        "invalid_rules",
        "rule 'r1': targets[0]: a webhook target needs url",
    )
    good = (
        "rules:\n  - name: r1\n    pattern: {source: [x]}\n    targets: [{id: t, type: incident}]\n"
    )
    assert post("/adops/rules/validate", json={"yaml": good}, headers=read).json() == {
        "valid": True,
        "rules": ["r1"],
    }


def test_published_events_land_on_the_topic_once_per_id(
    client: TestClient, platform: Platform
) -> None:
    write = key(platform, "adops:write")
    sent = {**EVENT, "id": "evt-1"}
    first = client.post("/adops/events", json=sent, headers=write).json()
    client.post("/adops/events", json=sent, headers=write)
    assert first == {"id": "evt-1", "topic": "adops.events"}
    [message] = platform.bus.replay("adops.events")
    assert (
        message.payload["id"] == "evt-1" and message.payload["detail-type"] == sent["detail-type"]
    )


def test_an_invalid_configured_rule_file_is_a_409(settings: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: broken\n    pattern: {source: x}\n    targets: []\n")
    p = build_platform(settings.model_copy(update={"adops": AdopsSettings(rules_file=rules)}))
    try:
        with TestClient(create_app(p, products=[PRODUCT])) as c:
            answer = c.get("/adops/rules", headers=key(p, "adops:read"))
            check(answer, 409, "rules_invalid", "rule 'broken'")
    finally:
        p.close()
