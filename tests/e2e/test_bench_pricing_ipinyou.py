"""The iPinYou benchmark runs in its quick form through the importer and writes its ratios."""

from __future__ import annotations

import pytest

from .bench_support import run_quick


@pytest.mark.slow
def test_quick_ipinyou_benchmark_writes_both_ratios() -> None:
    stdout, body = run_quick("pricing_ipinyou")
    figures = body["figures"]
    assert 0.8 < figures["ipinyou_rmse_ratio_vs_mean"] < 1.05
    assert 0.8 < figures["ipinyou_rmse_ratio_vs_exchange_mean"] < 1.05
    assert figures["ipinyou_exchange_mean_rmse"] < figures["ipinyou_mean_rmse"]
    assert (figures["ipinyou_train_rows"], figures["ipinyou_test_rows"]) == (80_000, 20_000)
    assert figures["ipinyou_features"] == "historical_ctr_avg, ad_exchange"
    assert "QUICK" in body["notes"] and "ipinyou_rmse_ratio_vs_exchange_mean" in stdout
