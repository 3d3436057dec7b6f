"""The stored-lead scoring benchmark runs end to end in its quick form and writes its figures."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_lead_scoring_benchmark_writes_its_figures() -> None:
    stdout, body = run_quick("campaigns_lead_scoring", timeout=600)
    figures = body["figures"]
    assert figures["stored_leads"] == figures["imported_created"] > 1_000
    assert isinstance(figures["stored_leads_scored_per_s"], int)
    assert figures["stored_leads_scored_per_s"] > 0
    assert 0.6 < figures["demo_model_auc"] < 1.0 and figures["demo_model_train_s"] > 0
    assert "stored_leads_scored_per_s" in stdout
