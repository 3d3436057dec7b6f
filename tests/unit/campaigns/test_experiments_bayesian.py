"""Bayesian results and CUPED against GrowthBook's engine (gbstats 0.8.0: its figures on these
inputs are written below, and compared live when gbstats is importable), the Beta-binomial closed
forms against Monte Carlo, and CUPED's theta against a direct regression."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from ssmas.campaigns.experiments import ArmSummary, ExperimentError, welch_t_test
from ssmas.campaigns.experiments.bayesian import (
    NormalPrior,
    beta_binomial,
    gaussian_effect,
)
from ssmas.campaigns.experiments.cuped import CupedArm, cuped

CONTROL = ArmSummary.proportion(1500, 15_000)
TREATMENT = ArmSummary.proportion(1650, 15_000)
MEAN_C = ArmSummary.from_sums(400, 4000.0, 4000.0**2 / 400 + 399 * 9.0)
MEAN_T = ArmSummary.from_sums(380, 3914.0, 3914.0**2 / 380 + 379 * 11.0)

# gbstats 0.8.0 EffectBayesianABTest(...).compute_result(): ci, chance_to_win, risk
GB = {
    "relative": (
        (0.027225751618696586, 0.17277424838130329),
        0.99646162548984,
        (0.10004024507846769, 4.0245078467750755e-05),
    ),
    "absolute": (
        (0.0030630933291155033, 0.016936906670884485),
        0.9976390289432953,
        (0.010002472715742646, 2.4727157426509294e-06),
    ),
    "prior": (
        (0.019660566140275948, 0.15610695202236752),
        0.9942115716008887,
        (0.08794834589252831, 6.458681120657345e-05),
    ),
    "mean": (
        (-0.015044056896732622, 0.07504405689673276),
        0.9041156451402457,
        (0.031034449377928118, 0.0010344493779280493),
    ),
}


def _ours(case: str):  # type: ignore[no-untyped-def]
    if case == "prior":
        return gaussian_effect(CONTROL, TREATMENT, prior=NormalPrior(0.0, 0.01))
    if case == "mean":
        return gaussian_effect(MEAN_C, MEAN_T)
    return gaussian_effect(CONTROL, TREATMENT, kind=case)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", list(GB))
def test_gaussian_effect_equals_gbstats(case: str) -> None:
    (low, high), ctw, (risk_c, risk_t) = GB[case]
    r = _ours(case)
    assert (r.ci_low, r.ci_high) == pytest.approx((low, high), abs=1e-4)
    assert r.chance_to_win == pytest.approx(ctw, abs=1e-4)
    assert (r.loss_control, r.loss_treatment) == pytest.approx((risk_c, risk_t), abs=1e-4)
    # and much tighter than the acceptance's 1e-4: the same formulas
    assert r.chance_to_win == pytest.approx(ctw, abs=1e-10)


def test_inverse_metric_swaps_win_and_losses() -> None:
    up, down = (
        gaussian_effect(CONTROL, TREATMENT),
        gaussian_effect(CONTROL, TREATMENT, inverse=True),
    )
    assert down.chance_to_win == pytest.approx(1 - up.chance_to_win)
    assert (down.loss_control, down.loss_treatment) == (up.loss_treatment, up.loss_control)


def test_gaussian_effect_equals_gbstats_live_when_installed() -> None:
    pytest.importorskip("gbstats")
    from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
    from gbstats.models.statistics import ProportionStatistic

    rng = np.random.default_rng(8)
    for _ in range(20):
        n_a, n_b = rng.integers(200, 40_000, 2)
        c_a, c_b = rng.binomial(n_a, 0.05), rng.binomial(n_b, 0.055)
        for kind in ("relative", "absolute"):
            ref = EffectBayesianABTest(
                ProportionStatistic(n=int(n_a), sum=int(c_a)),
                ProportionStatistic(n=int(n_b), sum=int(c_b)),
                EffectBayesianConfig(difference_type=kind),
            ).compute_result()
            ours = gaussian_effect(
                ArmSummary.proportion(int(c_a), int(n_a)),
                ArmSummary.proportion(int(c_b), int(n_b)),
                kind=kind,  # type: ignore[arg-type]
            )
            assert ours.chance_to_win == pytest.approx(ref.chance_to_win, abs=1e-4)
            assert (ours.ci_low, ours.ci_high) == pytest.approx(ref.ci, abs=1e-4)
            assert [ours.loss_control, ours.loss_treatment] == pytest.approx(ref.risk, abs=1e-4)


@pytest.mark.parametrize(
    "counts", [(1500, 15_000, 1650, 15_000), (12, 100, 19, 110), (3, 40, 2, 35)]
)
def test_beta_binomial_closed_forms_match_monte_carlo(counts: tuple[int, int, int, int]) -> None:
    r = beta_binomial(*counts)
    rng = np.random.default_rng(0)
    pc = rng.beta(*r.control_posterior, 2_000_000)
    pt = rng.beta(*r.treatment_posterior, 2_000_000)
    # Monte Carlo standard errors at 2M draws are below 4e-4 for these quantities
    assert r.chance_to_win == pytest.approx((pt > pc).mean(), abs=1.5e-3)
    assert r.loss_control == pytest.approx(np.maximum(pt - pc, 0).mean(), abs=2e-4)
    assert r.loss_treatment == pytest.approx(np.maximum(pc - pt, 0).mean(), abs=2e-4)
    assert r.control_ci[0] < counts[0] / counts[1] < r.control_ci[1]


def test_beta_binomial_large_samples_agree_with_normal_model() -> None:
    r = beta_binomial(1500, 15_000, 1650, 15_000)
    g = gaussian_effect(CONTROL, TREATMENT, kind="absolute")
    assert r.chance_to_win == pytest.approx(g.chance_to_win, abs=1e-3)


def test_beta_binomial_refuses_bad_input() -> None:
    with pytest.raises(ExperimentError, match="no units"):
        beta_binomial(0, 0, 1, 10)
    with pytest.raises(ExperimentError, match="whole numbers"):
        beta_binomial(1, 10, 1, 10, prior=(0, 1))  # type: ignore[arg-type]
    with pytest.raises(ExperimentError):
        NormalPrior(0.0, 0.0)


def _cuped_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    n = 2000
    pre_a = rng.normal(10, 2, n)
    post_a = 0.8 * pre_a + rng.normal(2, 1, n)
    pre_b = rng.normal(10, 2, n)
    post_b = 0.8 * pre_b + rng.normal(2.15, 1, n)
    return pre_a, post_a, pre_b, post_b


def test_cuped_theta_is_the_pooled_regression_slope() -> None:
    pre_a, post_a, pre_b, post_b = _cuped_data()
    _, _, theta = cuped(CupedArm.from_values(post_a, pre_a), CupedArm.from_values(post_b, pre_b))
    x, y = np.concatenate([pre_a, pre_b]), np.concatenate([post_a, post_b])
    slope = sm.OLS(y, sm.add_constant(x)).fit().params[1]
    assert theta == pytest.approx(slope, rel=1e-10)


def test_cuped_effect_matches_regression_adjustment() -> None:
    pre_a, post_a, pre_b, post_b = _cuped_data()
    c, t, _ = cuped(CupedArm.from_values(post_a, pre_a), CupedArm.from_values(post_b, pre_b))
    raw = welch_t_test(ArmSummary.from_values(post_a), ArmSummary.from_values(post_b))
    adjusted = welch_t_test(c, t)
    # ANCOVA: y ~ 1 + treated + x; its treatment coefficient and standard error
    y = np.concatenate([post_a, post_b])
    treated = np.r_[np.zeros(post_a.size), np.ones(post_b.size)]
    fit = sm.OLS(y, np.column_stack([np.ones_like(y), treated, np.r_[pre_a, pre_b]])).fit()
    assert adjusted.lift == pytest.approx(fit.params[1], abs=0.01 * fit.bse[1])
    assert adjusted.se == pytest.approx(fit.bse[1], rel=0.01)
    # the variance falls by about corr(y, x)^2 (0.8^2 * 4 / (0.64 * 4 + 1) = 0.72)
    assert (adjusted.se / raw.se) ** 2 == pytest.approx(1 - 0.72, abs=0.03)


def test_cuped_equals_gbstats_regression_adjustment() -> None:
    pre_a, post_a, pre_b, post_b = _cuped_data()
    c, t, theta = cuped(CupedArm.from_values(post_a, pre_a), CupedArm.from_values(post_b, pre_b))
    # gbstats 0.8.0 TwoSidedTTest on RegressionAdjustedStatistic of the same arrays
    assert theta == pytest.approx(0.7974036685120672, abs=1e-9)
    r = welch_t_test(c, t, kind="relative")
    assert r.lift == pytest.approx(0.013185188838255719, abs=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx(
        (0.0069179519420479105, 0.019452425734463527), abs=1e-9
    )
    assert r.p_value == pytest.approx(3.7880620690211586e-05, rel=1e-6)
    g = gaussian_effect(c, t)
    assert g.chance_to_win == pytest.approx(0.9999814371507186, abs=1e-9)


def test_cuped_without_covariate_variation_falls_back_to_raw() -> None:
    post = np.array([1.0, 2.0, 3.0, 4.0])
    c, t, theta = cuped(
        CupedArm.from_values(post, np.ones(4)), CupedArm.from_values(post + 1, np.ones(4))
    )
    assert theta == 0.0
    assert c.mean == pytest.approx(2.5) and t.mean == pytest.approx(3.5)
    with pytest.raises(ExperimentError, match="pair up"):
        CupedArm.from_values([1, 2, 3], [1, 2])
