"""The responsive floor benchmark runs quick and reports every policy beside the baseline."""

from __future__ import annotations

import pytest

from .bench_support import run_quick


@pytest.mark.slow
def test_quick_floor_benchmark_reports_uplifts_with_an_interval() -> None:
    stdout, body = run_quick("pricing_floors")
    figures = body["figures"]
    assert figures["floor_eval_pairs"] == 2
    low = figures["floor_uplift_per_unit_ci_low_pct"]
    assert low <= figures["floor_uplift_vs_best_static_per_unit_pct"]
    policies = figures["policies"]
    assert set(policies) == {"none", "own", "static", "per_unit", "prebid", "seed", "tuned",
                             "bandit"}  # fmt: skip
    assert policies["per_unit"]["uplift_vs_per_unit_pct"] == 0.0
    assert all(0.0 < p["fill_rate"] <= 1.0 for p in policies.values())
    assert all(p["bidder_surplus_eur"] > 0 for p in policies.values())
    assert "QUICK" in body["notes"] and "per_unit" in stdout
