"""Schemathesis over every documented operation of an app, in process (ASGI), as plain data.

``fuzz(schema, headers=...)`` runs, for each operation and each generation mode (valid and
invalid input), a Hypothesis search with a fixed seed (``derandomize``) and ``max_examples``
cases; each case is sent through ASGI and its answer checked: not a server error, a documented
status, a body matching that status's schema, the documented media type. It returns the number
of cases sent and the first failure of each failing operation and mode (no shrinking, so a run's
length stays bounded). Used by ``tests/integration/test_api_fuzz.py`` and
``benchmarks/hardening.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)


@contextmanager
def started_app(data_dir: Path) -> Iterator[tuple[Any, str]]:
    """The app of every product started on ``data_dir`` (pricing with a small real model, no
    rate limit in the way) and a key granting every scope; closed on exit."""
    from fastapi.testclient import TestClient

    from ssmas.bootstrap import create_app
    from ssmas.campaigns.quality.runtime import quality_runtime
    from ssmas.core.platform import build_platform
    from ssmas.core.security import create_api_key
    from ssmas.pricing.serving.runtime import started_serving_runtime
    from ssmas.settings import PricingSettings, Settings
    from tests.pricing_serving_support import small_model

    settings = Settings(profile="test", data_dir=data_dir).model_copy(
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
            quality_runtime(platform).scorer = small_lead_scorer()  # scores leads for real
            with platform.uow() as uow:
                raw, _ = create_api_key(uow.session, "fuzzer", ["*"])
                uow.commit()
            yield app, raw
    finally:
        platform.close()


def small_lead_scorer() -> Any:
    """A lead-quality ensemble trained in seconds on simulated leads, ready to serve."""
    from ssmas.campaigns.quality.ensemble import LeadQualityEnsemble
    from ssmas.campaigns.quality.fast import FastScorer
    from ssmas.campaigns.quality.features import lead_matrix
    from ssmas.campaigns.quality.simulator import simulate_leads

    leads = simulate_leads(600, seed=0)
    ensemble = LeadQualityEnsemble(folds=2, rounds=10).fit(lead_matrix(leads), leads["converted"])
    return FastScorer(ensemble, version="fuzz")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
CREDENTIAL_HEADERS = ("x-api-key", "authorization")


@dataclass
class FuzzReport:
    """What one run sent and found."""

    cases: int = 0
    server_errors: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # "GET /path (mode)" -> first failure

    def merge(self, other: FuzzReport) -> None:
        self.cases += other.cases
        self.server_errors += other.server_errors
        self.failures.update(other.failures)


def fuzz(
    schema: Any,
    *,
    headers: Mapping[str, str] | None = None,
    max_examples: int = 25,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    label: str = "",
) -> FuzzReport:
    """Fuzz every operation of ``schema`` sending ``headers`` (none: credentials removed)."""
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            name = f"{operation.method.upper()} {operation.path} ({mode.value}{label})"
            try:
                _search(operation, mode, dict(headers or {}), max_examples, report)
            except Unsatisfiable:
                continue  # no invalid input exists (an operation without parameters)
            except (Exception, BaseExceptionGroup) as exc:  # the first failure found
                report.failures[name] = _summary(exc)
    return report


def _summary(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return "\n".join([type(exc).__name__, *lines[:40]])


def _search(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    max_examples: int,
    report: FuzzReport,
) -> None:
    @settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        sent = {
            k: v for k, v in (case.headers or {}).items() if k.lower() not in CREDENTIAL_HEADERS
        }
        case.headers = {**sent, **headers}
        report.cases += 1
        response = case.call()
        if response.status_code >= 500:
            report.server_errors += 1
        case.validate_response(response, checks=CHECKS, headers=case.headers)

    run()
