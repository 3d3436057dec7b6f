"""The AdOps agents' scenario benchmark runs end to end in its quick form and writes its
figures (one fault of each kind, active and shadow)."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_adops_agents_benchmark_writes_its_figures() -> None:
    stdout, body = run_quick("adops", timeout=1200)
    figures = body["figures"]
    assert figures["faults"] == 8 and figures["per_kind"] == 1
    for name in (
        "classification_pct",
        "automation_pct",
        "detected_pct",
        "automation_pct_of_faults",
        "automation_ceiling_pct_of_faults",
        "automation_pct_automatable_kinds",
        "escalated_pct",
    ):
        assert 0 <= figures[name] <= 100
    # two kinds of the eight need a person (the outage's approval, RPM decay's no remedy)
    assert figures["automation_ceiling_pct_of_faults"] == 75.0
    assert figures["automation_pct_of_faults"] <= figures["automation_ceiling_pct_of_faults"]
    assert all("escalated_pct" in row for row in figures["by_kind"].values())
    assert figures["by_kind"]["rpm_decay"]["automated_pct"] == 0.0
    assert figures["unapproved_high_risk"] == 0
    assert figures["shadow_control_plane_changes"] == 0
    assert set(figures["by_kind"]) == {
        "partner_outage",
        "partner_latency_spike",
        "floor_too_high",
        "ad_unit_misconfiguration",
        "invalid_traffic_surge",
        "cache_collapse",
        "capacity_saturation",
        "rpm_decay",
    }
    assert "AdOps agents on the live simulator" in stdout
