"""Frequentist results, SRM and corrections against the issue's reference values and
scipy / statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ssmas.campaigns.experiments import (
    ArmSummary,
    ExperimentError,
    anova,
    benjamini_hochberg,
    chi_square_test,
    conversion_table,
    holm,
    srm_check,
    two_proportion_test,
    welch_t_test,
)


def test_two_proportion_reference_values() -> None:
    r = two_proportion_test(1500, 15_000, 1650, 15_000)
    assert r.lift == pytest.approx(0.10)
    assert r.p_value == pytest.approx(0.00708, abs=5e-6)
    assert r.ci_low == pytest.approx(0.0272, abs=5e-5)
    assert r.ci_high == pytest.approx(0.1728, abs=5e-5)
    assert r.significant


def test_two_proportion_absolute_matches_statsmodels_unpooled() -> None:
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    r = two_proportion_test(1500, 15_000, 1650, 15_000, kind="absolute")
    ref = test_proportions_2indep(1650, 15_000, 1500, 15_000, method="wald")
    low, high = confint_proportions_2indep(1650, 15_000, 1500, 15_000, method="wald")
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx((low, high), rel=1e-9)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(10, 3, 400), rng.normal(10.6, 5, 250)
    r = welch_t_test(ArmSummary.from_values(a), ArmSummary.from_values(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert r.lift == pytest.approx(b.mean() - a.mean())


def test_anova_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    groups = [rng.normal(m, 2, n) for m, n in ((5, 120), (5.4, 90), (5.9, 150))]
    r = anova([ArmSummary.from_values(g) for g in groups])
    ref = stats.f_oneway(*groups)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_chi_square_matches_scipy() -> None:
    table = conversion_table([1500, 1650, 1580], [15_000, 15_000, 14_800])
    r = chi_square_test(table)
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    assert (r.statistic, r.p_value, r.dof) == pytest.approx((chi2, p, dof), rel=1e-9)


def test_srm_reference_value() -> None:
    r = srm_check([5000, 5200], [0.5, 0.5])
    assert r.p_value == pytest.approx(0.0477, abs=5e-5)
    assert not r.mismatch  # flagged only below 0.001
    assert srm_check([5000, 5200], [1, 1], threshold=0.05).mismatch
    ref = stats.chisquare([3000, 3300, 3700], [3000, 3333.3333333, 3666.6666667])
    assert srm_check([3000, 3300, 3700], [0.3, 1 / 3, 11 / 30]).p_value == pytest.approx(
        ref.pvalue, rel=1e-6
    )


P_VALUES = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.5]


@pytest.mark.parametrize(("ours", "method"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
def test_corrections_match_statsmodels(ours: object, method: str) -> None:
    rng = np.random.default_rng(11)
    for p in (P_VALUES, list(rng.uniform(0, 0.1, 25)), [0.3]):
        rej, adj, _, _ = multipletests(p, alpha=0.05, method=method)
        r = ours(p, alpha=0.05)  # type: ignore[operator]
        np.testing.assert_allclose(r.adjusted, adj, rtol=1e-12)
        assert list(r.rejected) == list(rej)


@pytest.mark.parametrize(
    "call",
    [
        lambda: two_proportion_test(0, 0, 10, 100),
        lambda: two_proportion_test(0, 100, 10, 100),  # control rate 0: no relative lift
        lambda: two_proportion_test(120, 100, 10, 100),
        lambda: ArmSummary.from_values([1.0]),
        lambda: srm_check([0, 0], [1, 1]),
        lambda: srm_check([10, 10], [1, 0]),
        lambda: holm([]),
        lambda: benjamini_hochberg([1.2]),
        lambda: anova([ArmSummary.from_values([1, 1, 1]), ArmSummary.from_values([2, 2, 2])]),
        lambda: chi_square_test([[0, 0], [5, 5]]),
    ],
)
def test_bad_input_is_refused_clearly(call: object) -> None:
    with pytest.raises(ExperimentError):
        call()  # type: ignore[operator]
