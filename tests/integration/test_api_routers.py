"""Routers mount from ``ROUTER_MODULES`` with ``setup`` hooks; the app closes what it opens."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ssmas import bootstrap
from ssmas.core.api import create_app, load_router_modules
from ssmas.settings import Settings

PRODUCT = textwrap.dedent(
    '''
    """A stand-in product package for the router-mounting test."""
    from __future__ import annotations

    from fastapi import APIRouter

    from ssmas.core.api import PlatformDep

    router = APIRouter(prefix="/v1/fake")
    events: list[str] = []


    @router.get("/data-dir")
    async def data_dir(platform: PlatformDep) -> dict[str, str]:
        return {"data_dir": str(platform.settings.data_dir)}


    def setup(platform):
        events.append("setup")
        platform.checks["fake_product"] = lambda: None
        return lambda: events.append("teardown")
    '''
)


@pytest.fixture()
def product_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = "ssmas_fake_product_for_tests"
    (tmp_path / f"{name}.py").write_text(PRODUCT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(bootstrap, "ROUTER_MODULES", [(name, "router")])
    yield name
    sys.modules.pop(name, None)


def test_product_router_mounted_with_setup_and_teardown(
    settings: Settings, product_module: str
) -> None:
    app = create_app(settings=settings)
    module = sys.modules[product_module]
    assert module.events == []  # nothing runs before the app starts
    with TestClient(app) as client:
        assert module.events == ["setup"]
        response = client.get("/v1/fake/data-dir")
        assert response.json() == {"data_dir": str(settings.data_dir)}
        ready = client.get("/ready").json()
        assert ready["checks"]["fake_product"]["ok"] is True
        platform = app.state.platform
    assert module.events == ["setup", "teardown"]
    assert platform.closed  # built by the app, so closed by the app


def test_passed_platform_is_left_open(settings: Settings) -> None:
    platform = bootstrap.build_platform(settings)
    try:
        with TestClient(create_app(platform)) as client:
            assert client.get("/health").status_code == 200
        assert not platform.closed
    finally:
        platform.close()
    assert platform.closed


def test_bad_router_entry_is_refused() -> None:
    with pytest.raises(TypeError, match="APIRouter"):
        load_router_modules([("ssmas.settings", "Settings")])
    with pytest.raises(ModuleNotFoundError):
        load_router_modules([("ssmas.no_such_product", "router")])
