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

from tests.fuzz_support import FuzzReport, fuzz, started_app

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    """The started app of every product (pricing with a small real model), and a key granting
    every scope."""
    with started_app(tmp_path_factory.mktemp("fuzz") / "data") as target:
        yield target


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
