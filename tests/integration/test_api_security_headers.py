"""Every answer of the app carries the security headers; pages keep their own stricter ones."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.settings import Settings

BASIC = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def assert_basic(headers: object) -> None:
    for name, value in BASIC.items():
        assert headers.get_list(name) == [value], name  # type: ignore[attr-defined]


def test_json_answers_errors_and_metrics_carry_the_headers(settings: Settings) -> None:
    with TestClient(create_app(settings=settings)) as client:
        for path, status in (("/health", 200), ("/v1/ping", 401), ("/no/such", 404)):
            response = client.get(path)
            assert response.status_code == status
            assert_basic(response.headers)
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["content-security-policy"] == (
                "default-src 'none'; frame-ancestors 'none'"
            )
            assert "x-request-id" in response.headers
            assert "strict-transport-security" not in response.headers  # plain HTTP
        too_big = client.post("/v1/ping", content=b"x" * (settings.max_body_bytes + 1))
        assert too_big.status_code == 413
        assert_basic(too_big.headers)
        metrics = client.get("/metrics")
        assert_basic(metrics.headers)
        assert "content-security-policy" not in metrics.headers  # text, not JSON


def test_html_pages_keep_their_own_policy_once(settings: Settings) -> None:
    with TestClient(create_app(settings=settings)) as client:
        login = client.get("/login")
        assert login.status_code == 200
        assert_basic(login.headers)
        assert login.headers["referrer-policy"] == "same-origin"  # the dashboard's own
        assert login.headers.get_list("content-security-policy")[0].startswith("default-src 'self'")
        assert len(login.headers.get_list("content-security-policy")) == 1
        docs = client.get("/docs")
        assert docs.status_code == 200
        assert_basic(docs.headers)
        assert "default-src 'none'" not in docs.headers.get("content-security-policy", "")


def test_https_answers_add_hsts(settings: Settings) -> None:
    app = create_app(settings=settings)
    with TestClient(app, base_url="https://testserver") as client:
        response = client.get("/health")
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
