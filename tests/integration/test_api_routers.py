"""The app closes what it opens, and refuses product entries that are not routers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.api import load_product_routers
from ssmas.core.platform import build_platform
from ssmas.core.product import Product, ProductError
from ssmas.settings import Settings


def test_app_built_from_settings_closes_its_platform(settings: Settings) -> None:
    app = create_app(settings=settings)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        platform = app.state.platform
        assert not platform.closed
    assert platform.closed  # built by the app, so closed by the app


def test_passed_platform_is_left_open(settings: Settings) -> None:
    platform = build_platform(settings)
    try:
        with TestClient(create_app(platform)) as client:
            assert client.get("/health").status_code == 200
        assert not platform.closed
    finally:
        platform.close()
    assert platform.closed


def test_bad_router_entry_is_refused() -> None:
    with pytest.raises(ProductError, match="APIRouter"):
        load_product_routers([Product("bad", "x", routers=("ssmas.settings:Settings",))])
    with pytest.raises(ProductError, match="not callable"):
        load_product_routers([Product("bad", "x", start="ssmas.settings:DEV_SECRET")])
    with pytest.raises(ProductError, match="module:attribute"):
        load_product_routers([Product("bad", "x", routers=("ssmas.settings",))])
    with pytest.raises(ProductError, match="has no attribute"):
        load_product_routers([Product("bad", "x", routers=("ssmas.settings:nope",))])
    with pytest.raises(ModuleNotFoundError):
        load_product_routers([Product("bad", "x", routers=("ssmas.no_such_product:router",))])
