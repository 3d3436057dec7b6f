"""The AdOps live benchmark runs end to end in its quick form and writes its figures."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_adops_live_benchmark_writes_its_figures() -> None:
    stdout, body = run_quick("adops_live", timeout=900)
    figures = body["figures"]
    assert figures["live_faults"] == 8  # one fault of each kind
    assert 0 <= figures["detect_within_2_windows_pct"] <= 100
    assert figures["false_incidents_per_day"] >= 0
    assert figures["incident_per_fault"] >= 0
    assert figures["ingest_points_per_s"] > 0
    assert set(figures["live_by_kind"]) >= {"partner_outage", "cache_collapse", "rpm_decay"}
    assert "AdOps live trial" in stdout
