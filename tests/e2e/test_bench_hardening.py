"""The hardening benchmark runs end to end in its quick form and writes the figures it must."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_hardening_benchmark_writes_its_figures() -> None:
    _stdout, body = run_quick("hardening", timeout=600)
    figures = body["figures"]
    assert figures["fuzz_cases"] > 0 and figures["fuzz_server_errors"] == 0
    assert figures["header_attack_heads_refused_431"] > 0
    assert 0 < figures["failed_auth_429_after"] <= 20
    assert figures["revocation_s"] > 0 and figures["revocation_median_s"] > 0
    assert figures["revocation_trials"] == 3
