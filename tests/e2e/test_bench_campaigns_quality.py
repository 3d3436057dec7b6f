"""The lead-quality benchmark runs end to end in its quick form and writes the figures it must."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_lead_quality_benchmark_writes_its_figures() -> None:
    stdout, body = run_quick("campaigns_quality", timeout=600)
    figures = body["figures"]
    for key in ("lead_quality_auc", "ensemble_vs_best_single", "lead_predict_p99_ms"):
        assert isinstance(figures[key], float), key
    assert isinstance(figures["lead_batch_per_s"], int) and figures["lead_batch_per_s"] > 0
    assert 0.6 < figures["lead_quality_auc"] <= figures["oracle_auc"] + 0.02
    assert figures["ensemble_vs_best_single"] == pytest.approx(
        figures["lead_quality_auc"] / figures["best_single_auc"], abs=2e-4
    )
    assert figures["lead_predict_errors"] == 0 and figures["lead_predict_requests"] > 0
    assert figures["batch_body_bytes"] < 1_048_576  # 10,000 leads fit the API's body limit
    assert "lead_quality_auc" in stdout
