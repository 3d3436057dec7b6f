"""The Ops page: firing alerts from a real Alertmanager, or the platform's checks without one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.security import create_api_key
from ssmas.ops.stack import AlertStack, StackSettings
from ssmas.settings import OpsSettings, Settings
from tests.fakes.webhook_sink import HttpSink
from tests.ops_alert_support import ALERTMANAGER, local_alertmanager_config, wait_for

PAGE = "/dashboard/ops/health"


@contextmanager
def signed_in(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings=settings)) as client:
        platform = client.app.state.platform  # type: ignore[attr-defined]
        with platform.uow() as uow:
            raw, _ = create_api_key(uow.session, "ops-web", ["*"])
            uow.commit()
        response = client.post("/login", data={"api_key": raw}, follow_redirects=False)
        assert response.status_code == 303
        yield client


def test_anonymous_visitors_are_sent_to_login(settings: Settings) -> None:
    with TestClient(create_app(settings=settings)) as client:
        response = client.get(PAGE, follow_redirects=False)
        assert response.status_code == 303 and "/login" in response.headers["location"]


def test_without_alertmanager_the_page_shows_the_platforms_checks(settings: Settings) -> None:
    with signed_in(settings) as client:
        page = client.get(PAGE)
        assert page.status_code == 200
        assert 'data-source="platform"' in page.text and 'data-ready="true"' in page.text
        assert "No alert is firing." in page.text
        assert 'data-check="db"' in page.text and 'data-check="bus"' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert 'href="/dashboard/ops/health"' in client.get("/dashboard/ops").text

        def broken() -> None:
            raise RuntimeError("disk full")

        client.app.state.platform.checks["archive"] = broken  # type: ignore[attr-defined]
        live = client.get(f"{PAGE}/live")
        assert live.status_code == 200
        assert 'data-ready="false"' in live.text
        assert 'data-alert="SsmasCheckFailing"' in live.text
        assert "disk full" in live.text


def test_an_unreachable_alertmanager_falls_back_and_says_why(settings: Settings) -> None:
    settings.ops = OpsSettings(alertmanager_url="http://127.0.0.1:9", alertmanager_timeout_s=1)
    with signed_in(settings) as client:
        page = client.get(PAGE)
        assert page.status_code == 200
        assert 'data-source="platform"' in page.text and "did not answer" in page.text


@pytest.mark.slow
def test_firing_alerts_come_from_alertmanager(settings: Settings, tmp_path: Path) -> None:
    if shutil.which("prometheus-alertmanager") is None:
        pytest.fail("prometheus-alertmanager is not installed: run `make system-deps`")
    rules = tmp_path / "empty.yml"
    rules.write_text("groups: []\n")
    with HttpSink() as sink:
        config = tmp_path / "alertmanager.yml"
        local_alertmanager_config(
            ALERTMANAGER, config, http_url=sink.url, smtp_port=9, group_wait_s=0.2
        )
        stack_settings = StackSettings(["127.0.0.1:9"], [rules], config, tmp_path / "stack")
        with AlertStack(stack_settings) as stack:
            now = datetime.now(UTC)
            alert = {
                "labels": {"alertname": "SsmasQueueStalled", "severity": "critical"}
                | {"topic": "assistant.inbound", "group": "nlu"},
                "annotations": {"summary": "assistant.inbound/nlu: 12 messages and no consumer"},
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(minutes=5)).isoformat(),
            }
            posted = httpx.post(f"{stack.alertmanager_url}/api/v2/alerts", json=[alert])
            assert posted.status_code == 200
            settings.ops = OpsSettings(alertmanager_url=stack.alertmanager_url)
            with signed_in(settings) as client:
                assert wait_for(lambda: "SsmasQueueStalled" in client.get(PAGE).text, 10)
                page = client.get(PAGE).text
                assert 'data-source="alertmanager"' in page
                assert "12 messages and no consumer" in page
                assert "topic=assistant.inbound" in page
