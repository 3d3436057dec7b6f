"""The dashboard over HTTP against a real platform (SQLite, SQLite bus, memory cache).

Covers sign-in with an API key, the session cookie, the platform page and its HTMX partial,
the traffic feed, product group pages and logout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core import metrics
from ssmas.core.db import utcnow
from ssmas.core.db.models import WebSession
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security import create_api_key, list_audit, revoke_api_key
from ssmas.settings import DEV_SECRET, Settings
from ssmas.web import register_page
from ssmas.web.nav import GROUPS, registry
from ssmas.web.session import COOKIE_NAME, issue_token
from ssmas.web.traffic import TrafficSampler

SECRET = "s3cret-for-web-tests-Zq9"
LLM_KEY = "sk-llm-key-never-shown-4711"


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    tuned = settings.model_copy(
        update={
            "secret_key": SECRET,
            "llm_api_key": LLM_KEY,
            "redis_url": "redis://:hunter2pw@127.0.0.1:6379/3",
        }
    )
    built = build_platform(tuned)
    yield built
    built.close()


@pytest.fixture()
def api_key(platform: Platform) -> str:
    with platform.uow() as uow:
        raw, _record = create_api_key(uow.session, "dashboard-tester", ["admin"])
        uow.commit()
    return raw


@pytest.fixture()
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as test_client:
        yield test_client


def sign_in(client: TestClient, key: str) -> None:
    response = client.post("/login", data={"api_key": key}, follow_redirects=False)
    assert response.status_code == 303, response.text


def test_root_sends_anonymous_visitors_to_login(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_wrong_key_shows_the_form_again_with_401(client: TestClient) -> None:
    for bad in ["ssmas_abcdefgh_" + "x" * 43, "nonsense", "k" * 5000]:
        response = client.post("/login", data={"api_key": bad}, follow_redirects=False)
        assert response.status_code == 401
        assert "text/html" in response.headers["content-type"]
        assert "That API key is not valid" in response.text
        assert 'name="api_key"' in response.text
        assert COOKIE_NAME not in response.headers.get("set-cookie", "")


def test_empty_or_missing_key_asks_for_one(client: TestClient) -> None:
    assert "Enter an API key" in client.post("/login", data={"api_key": "  "}).text
    response = client.post("/login", content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 401
    assert "Enter an API key" in response.text


def test_login_sets_a_signed_httponly_cookie_without_the_key(
    client: TestClient, api_key: str
) -> None:
    response = client.post("/login", data={"api_key": api_key}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    header = response.headers["set-cookie"]
    assert "HttpOnly" in header
    assert "samesite=lax" in header.lower()
    token = SimpleCookie(header)[COOKIE_NAME].value
    secret_part = api_key.split("_", 2)[2]
    assert secret_part not in token and api_key not in token
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"


def test_dashboard_shows_checks_version_and_settings_but_no_secret(
    client: TestClient, api_key: str
) -> None:
    sign_in(client, api_key)
    page = client.get("/dashboard")
    assert page.status_code == 200
    for check in ("db", "bus", "cache"):
        assert f'data-check="{check}"' in page.text
    assert 'data-ready="true"' in page.text
    assert "0.1.0" in page.text
    assert 'hx-get="/dashboard/health"' in page.text
    assert "traffic-chart" in page.text
    for secret in (SECRET, LLM_KEY, "hunter2pw"):
        assert secret not in page.text
    assert "redis://:***@127.0.0.1:6379/3" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_health_partial_reports_a_failing_check(
    client: TestClient, platform: Platform, api_key: str
) -> None:
    sign_in(client, api_key)

    def exchange_down() -> None:
        raise ConnectionError("exchange simulator refused the connection")

    platform.checks["exchange"] = exchange_down
    fragment = client.get("/dashboard/health", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'data-ready="false"' in fragment.text
    assert "ConnectionError: exchange simulator refused the connection" in fragment.text
    assert 'data-check="db"' in fragment.text


def test_anonymous_htmx_and_json_calls_get_401(client: TestClient) -> None:
    fragment = client.get("/dashboard/health", headers={"HX-Request": "true"})
    assert fragment.status_code == 401
    assert fragment.headers["hx-redirect"] == "/login"
    feed = client.get("/dashboard/traffic.json")
    assert feed.status_code == 401
    assert feed.json()["error"] == "unauthorized"


def test_traffic_feed_turns_metric_totals_into_rate_and_latency(
    client: TestClient, api_key: str
) -> None:
    sign_in(client, api_key)
    now = [1_000.0]
    client.app.state.web_traffic = TrafficSampler(metrics.REGISTRY, clock=lambda: now[0])  # type: ignore[attr-defined]
    first = client.get("/dashboard/traffic.json").json()
    assert first == {"available": True, "t": [], "rps": [], "latency_ms": []}
    for _ in range(9):
        assert client.get("/health").status_code == 200
    now[0] += 5.0
    feed = client.get("/dashboard/traffic.json").json()
    assert feed["t"] == [1005.0]
    # nine /health calls plus the first feed request finished inside the 5 s interval
    assert feed["rps"][0] == pytest.approx(10 / 5.0)
    assert feed["latency_ms"][0] > 0


def _cookie_after_sign_in(client: TestClient, key: str) -> str:
    response = client.post("/login", data={"api_key": key}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return SimpleCookie(response.headers["set-cookie"])[COOKIE_NAME].value


def test_tampered_foreign_or_unknown_cookies_are_refused(client: TestClient, api_key: str) -> None:
    good = _cookie_after_sign_in(client, api_key)
    session_id = good.split(".")[1]
    for token in [
        good[:-1] + ("0" if good[-1] != "0" else "1"),
        issue_token("another-secret", session_id),
        issue_token(SECRET, "Z" * 43),  # well signed, but no such session
        "garbage",
    ]:
        client.cookies.set(COOKIE_NAME, token)
        response = client.get("/dashboard", follow_redirects=False)
        assert response.status_code == 303, token
        assert response.headers["location"] == "/login"
    client.cookies.set(COOKIE_NAME, good)
    assert client.get("/dashboard", follow_redirects=False).status_code == 200


def _legacy_token(secret: str, prefix: str, expires_at: int) -> str:
    """A cookie of the old form (v1.<prefix>.<expiry>.<hmac>), minted as an attacker would."""
    body = base64.urlsafe_b64encode(prefix.encode()).decode().rstrip("=")
    payload = f"v1.{body}.{expires_at}"
    key = hashlib.sha256(b"ssmas.web.session|" + secret.encode()).digest()
    return f"{payload}.{hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()}"


def test_a_cookie_minted_with_the_old_public_secret_is_refused(tmp_path: Path) -> None:
    settings = Settings(profile="dev", data_dir=tmp_path / "fresh")  # no SSMAS_SECRET_KEY
    built = build_platform(settings)
    try:
        assert built.secret_key != DEV_SECRET
        with built.uow() as uow:
            _raw, record = create_api_key(uow.session, "victim", ["*"])
            uow.commit()
        ten_years = int(time.time()) + 10 * 365 * 86400
        with TestClient(create_app(built)) as client:
            for secret in (DEV_SECRET, built.secret_key):
                client.cookies.set(COOKIE_NAME, _legacy_token(secret, record.prefix, ten_years))
                response = client.get("/dashboard", follow_redirects=False)
                assert response.status_code == 303
                assert response.headers["location"] == "/login"
    finally:
        built.close()


def test_the_server_bounds_the_session_whatever_the_browser_keeps(
    client: TestClient, platform: Platform, api_key: str
) -> None:
    response = client.post("/login", data={"api_key": api_key}, follow_redirects=False)
    assert f"Max-Age={platform.settings.session_ttl_s}" in response.headers["set-cookie"]
    with platform.uow() as uow:  # the server's clock moves past the session's expiry
        uow.session.execute(
            sa.update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        uow.commit()
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_session(
    client: TestClient, platform: Platform, api_key: str
) -> None:
    sign_in(client, api_key)
    assert client.get("/dashboard", follow_redirects=False).status_code == 200
    with platform.uow() as uow:
        assert revoke_api_key(uow.session, api_key.split("_")[1])
        uow.commit()
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    again = client.post("/login", data={"api_key": api_key}, follow_redirects=False)
    assert again.status_code == 401


def test_logout_ends_the_session_on_the_server(
    client: TestClient, platform: Platform, api_key: str
) -> None:
    old_cookie = _cookie_after_sign_in(client, api_key)
    other_browser = _cookie_after_sign_in(client, api_key)
    client.cookies.set(COOKIE_NAME, old_cookie)
    response = client.post("/logout", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert f'{COOKIE_NAME}=""' in response.headers["set-cookie"]
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    assert "You have signed out" in client.get("/login?signed_out=1").text
    # The old cookie, sent again by whoever kept a copy, no longer opens the dashboard ...
    client.cookies.set(COOKIE_NAME, old_cookie)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    json_call = client.get("/dashboard", headers={"accept": "application/json"})
    assert json_call.status_code == 401
    # ... while another browser's session of the same key goes on.
    client.cookies.set(COOKIE_NAME, other_browser)
    assert client.get("/dashboard", follow_redirects=False).status_code == 200
    with platform.uow() as uow:
        assert [e.actor for e in list_audit(uow.session, action="web.logout")] == [
            api_key.split("_")[1]
        ]


def test_next_path_is_followed_only_within_the_site(client: TestClient, api_key: str) -> None:
    bounce = client.get("/dashboard/pricing", follow_redirects=False)
    assert bounce.headers["location"] == "/login?next=/dashboard/pricing"
    assert 'name="next" value="/dashboard/pricing"' in client.get(bounce.headers["location"]).text
    ok = client.post(
        "/login", data={"api_key": api_key, "next": "/dashboard/pricing"}, follow_redirects=False
    )
    assert ok.headers["location"] == "/dashboard/pricing"
    client.cookies.clear()
    evil = client.post(
        "/login", data={"api_key": api_key, "next": "//evil.example"}, follow_redirects=False
    )
    assert evil.headers["location"] == "/dashboard"


def test_every_group_page_says_not_deployed_until_a_product_registers(
    client: TestClient, api_key: str
) -> None:
    sign_in(client, api_key)
    for group in GROUPS[1:]:
        page = client.get(group.path)
        assert page.status_code == 200
        deployed = bool(registry.pages(group.slug))
        assert (f"{group.label} is not deployed yet" in page.text) is not deployed
    register_page("adops", "Incident board", "/dashboard/adops/incidents")
    try:
        page = client.get("/dashboard/adops")
        assert "not deployed yet" not in page.text
        assert '<a href="/dashboard/adops/incidents">Incident board</a>' in page.text
        assert "Incident board" in client.get("/dashboard/pricing").text  # in the sidebar
    finally:
        registry.unregister("/dashboard/adops/incidents")
    assert client.get("/dashboard/nowhere").status_code == 404
    assert client.get("/dashboard/platform", follow_redirects=False).status_code == 303


def test_logins_are_audited(client: TestClient, platform: Platform, api_key: str) -> None:
    client.post("/login", data={"api_key": "wrong"})
    sign_in(client, api_key)
    with platform.uow() as uow:
        actions = [entry.action for entry in list_audit(uow.session, 10)]
    assert actions[:2] == ["web.login", "web.login_failed"]


def test_vendored_assets_are_served(client: TestClient) -> None:
    for path in [
        "/web/static/web.css",
        "/web/static/dashboard.js",
        "/web/static/vendor/htmx-2.0.11.min.js",
        "/web/static/vendor/uPlot-1.6.32.iife.min.js",
        "/web/static/vendor/uPlot-1.6.32.min.css",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert len(response.content) > 500
    assert client.get("/web/static/../routes.py").status_code == 404


def test_cross_site_posts_are_refused(client: TestClient, api_key: str) -> None:
    foreign = {"origin": "https://evil.example"}
    login = client.post("/login", data={"api_key": api_key}, headers=foreign)
    assert login.status_code == 403
    assert COOKIE_NAME not in login.headers.get("set-cookie", "")
    sign_in(client, api_key)
    assert client.post("/logout", headers=foreign).status_code == 403
    assert client.get("/dashboard", follow_redirects=False).status_code == 200
    same = client.post("/logout", headers={"origin": "http://testserver"}, follow_redirects=False)
    assert same.status_code == 303
