"""The experiments benchmark runs in its quick form: daily peeking inflates the A/A false
positive rate, the always-valid confidence sequence keeps it at or below alpha."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_run_separates_peeking_from_the_sequential_test() -> None:
    stdout, body = run_quick("campaigns_experiments")
    figures = body["figures"]
    assert figures["aa_experiments"] == 1000 and figures["aa_looks"] == 10
    assert figures["aa_sequential_fpr"] <= 0.05
    # ten looks at alpha 0.05 give ~0.19 by theory; at least twice alpha however the seed falls
    assert figures["aa_naive_fpr"] > 0.10 > figures["aa_sequential_fpr"]
    # the last look alone is an ordinary test: ~0.05 (binomial s.e. over 1,000 is ~0.007)
    assert 0.025 <= figures["aa_fixed_fpr"] <= 0.075
    # the sequential test still finds a 10% lift more often than not, and less often than the
    # fixed-horizon test at its planned size (the price of looking)
    assert 0.4 < figures["aa_sequential_power"] < figures["fixed_power"]
    # CUPED with a pre-period correlation of 0.7 cuts the variance by about 0.7^2 = 49%
    assert 0.45 < 1 - figures["cuped_variance_ratio"] < 0.53
    assert figures["cuped_power"] > figures["cuped_raw_power"]
    assert "aa_sequential_fpr" in stdout and "targets: met" in stdout
