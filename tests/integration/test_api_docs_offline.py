"""``/docs`` works offline: Swagger UI's script, stylesheet and icon come from the package."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import Settings

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    platform: Platform = build_platform(settings)
    try:
        with TestClient(create_app(platform)) as test_client:
            yield test_client
    finally:
        platform.close()


def test_docs_page_loads_only_local_assets_and_they_are_served(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "cdn" not in html.lower() and "//" not in "".join(ASSET.findall(html))
    urls = ASSET.findall(html)
    scripts = [u for u in urls if u.endswith(".js")]
    styles = [u for u in urls if u.endswith(".css")]
    assert scripts and styles, urls
    for url in urls:
        assert url.startswith("/docs/assets/"), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert len(answer.content) > 0
    js = client.get(scripts[0])
    assert "javascript" in js.headers["content-type"]
    assert "SwaggerUIBundle" in js.text
    css = client.get(styles[0])
    assert css.headers["content-type"].startswith("text/css")
    assert ".swagger-ui" in css.text
    # The page points Swagger UI at our schema and turns the online validator badge off.
    assert "url: '/openapi.json'" in html
    assert '"validatorUrl": null' in html


def test_redoc_is_off_and_the_schema_still_served(client: TestClient) -> None:
    # ReDoc's page would load its script from a CDN; it is not offered.
    assert client.get("/redoc").status_code == 404
    assert "/health" in client.get("/openapi.json").json()["paths"]


def test_unknown_docs_asset_is_a_404(client: TestClient) -> None:
    assert client.get("/docs/assets/nope.js").status_code == 404
