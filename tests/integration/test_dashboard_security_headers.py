"""Every dashboard page of every product, and the fragments and images they load, answer with
the security headers: a strict CSP, no sniffing, no framing, never cached."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.security import create_api_key
from ssmas.settings import Settings
from ssmas.web.nav import GROUPS, registry

EXTRA = (
    "/dashboard/ops/health/live",
    "/dashboard/pricing/models/live",
    "/dashboard/assistant/conversations/rows",
    "/dashboard/assistant/analytics/sentiment.png",
)


def test_every_dashboard_answer_carries_the_security_headers(settings: Settings) -> None:
    with TestClient(create_app(settings=settings)) as client:
        platform = client.app.state.platform  # type: ignore[attr-defined]
        with platform.uow() as uow:
            raw, _ = create_api_key(uow.session, "headers", ["*"])
            uow.commit()
        assert client.post("/login", data={"api_key": raw}, follow_redirects=False).is_redirect
        pages = [g.path for g in GROUPS] + [p.path for g in GROUPS for p in registry.pages(g.slug)]
        assert len(pages) > 20
        for path in [*pages, *EXTRA]:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
            headers = answer.headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY", path
            assert "no-store" in headers.get("cache-control", ""), path
            if headers["content-type"].startswith("text/html"):
                policy = headers["content-security-policy"]
                assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
                assert "script-src 'self'" in policy, path
