"""The seed-criterion benchmark runs in its quick form and reports the RMSE against 0.45 EUR."""

from __future__ import annotations

import pytest

from .bench_support import run_quick


@pytest.mark.slow
def test_quick_seed_rmse_benchmark_reports_the_criterion() -> None:
    stdout, body = run_quick("pricing_seed_rmse")
    figures = body["figures"]
    assert 0.0 < figures["seed_rmse_eur"] < 5.0
    assert figures["seed_rmse_target_eur"] == 0.45
    assert figures["seed_rmse_met"] == (figures["seed_rmse_eur"] < 0.45)
    assert figures["seed_rmse_test_rows"] > 0
    assert "QUICK" in body["notes"] and "seed_rmse_eur" in stdout
