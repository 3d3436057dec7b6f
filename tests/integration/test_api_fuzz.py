"""Schemathesis fuzzes every documented operation of the whole app, in process (issue 12, item 8).

The app of every product (``ssmas.bootstrap.create_app``) is started once on a temporary data
directory; Schemathesis reads its ``/openapi.json`` and generates valid and invalid requests for
each operation, sent through ASGI twice: with an API key holding every scope, and with none.
Every answer must be no server error, a status the operation documents, a body matching the
documented schema for that status and the documented media type. The seed is fixed
(``derandomize``) and the example count bounded (``MAX_EXAMPLES`` per operation and mode), so
the run is repeatable and takes one to two minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.platform import build_platform
from ssmas.core.security import create_api_key
from ssmas.pricing.serving.runtime import started_serving_runtime
from ssmas.settings import PricingSettings, Settings
from tests.fuzz_support import FuzzReport, fuzz
from tests.pricing_serving_support import small_model

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    """The started app of every product (pricing with a small real model), and a key granting
    every scope."""
    base = Settings(profile="test", data_dir=tmp_path_factory.mktemp("fuzz") / "data")
    settings = base.model_copy(
        update={
            "rate_limit_burst": 1_000_000,
            "pricing": PricingSettings(load_models=False, drift_interval_s=0),
        }
    )
    settings.ensure_dirs()
    platform = build_platform(settings)
    try:
        app = create_app(platform)
        with TestClient(app):  # runs the lifespan: runtimes attached, products started
            runtime = started_serving_runtime(platform)
            assert runtime is not None
            runtime.service.install("champion", small_model())  # prices for real
            with platform.uow() as uow:
                raw, _ = create_api_key(uow.session, "fuzzer", ["*"])
                uow.commit()
            yield app, raw
    finally:
        platform.close()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_target: tuple[FastAPI, str]) -> Any:
    app, _ = fuzz_target
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _check(report: FuzzReport) -> None:
    assert report.cases > 0
    listing = "\n\n".join(f"{name}: {failure}" for name, failure in report.failures.items())
    assert not report.failures, f"{len(report.failures)} failing operations:\n{listing}"
    assert report.server_errors == 0


@pytest.mark.slow
def test_every_operation_with_a_key(fuzz_schema: Any, fuzz_target: tuple[FastAPI, str]) -> None:
    headers = {"X-API-Key": fuzz_target[1]}
    _check(fuzz(fuzz_schema, headers=headers, max_examples=MAX_EXAMPLES))


@pytest.mark.slow
def test_every_operation_without_a_key(fuzz_schema: Any) -> None:
    _check(fuzz(fuzz_schema, max_examples=MAX_EXAMPLES))
