"""Always-valid confidence sequences against GrowthBook's sequential engine (gbstats 0.8.0's
``SequentialTwoSidedTTest`` on the same inputs; its figures are written below, and compared live
when gbstats is importable) and the guarantees a daily look relies on."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ssmas.campaigns.experiments import ArmSummary, ExperimentError, two_proportion_test
from ssmas.campaigns.experiments.sequential import (
    SequentialMonitor,
    always_valid_p,
    halfwidth,
    mixture_rho,
    sequential_test,
)

CONTROL = ArmSummary.proportion(1500, 15_000)
TREATMENT = ArmSummary.proportion(1650, 15_000)

# gbstats 0.8.0, SequentialTwoSidedTTest(ProportionStatistic(15000, 1500),
# ProportionStatistic(15000, 1650), SequentialConfig(...)).compute_result()
GBSTATS = {
    ("relative", 5000.0): (-0.01790191363152603, 0.21790191363152595, 0.1998657775453361),
    ("relative", 20000.0): (-0.013032462962017599, 0.2130324629620175, 0.12658160892375747),
    ("absolute", 5000.0): (-0.0012385162247955644, 0.021238516224795556, 0.13982016422011104),
}


@pytest.mark.parametrize(("kind", "tuning"), list(GBSTATS))
def test_matches_gbstats_sequential(kind: str, tuning: float) -> None:
    r = sequential_test(CONTROL, TREATMENT, tuning=tuning, kind=kind)  # type: ignore[arg-type]
    low, high, p = GBSTATS[(kind, tuning)]
    assert r.ci_low == pytest.approx(low, abs=1e-10)
    assert r.ci_high == pytest.approx(high, abs=1e-10)
    assert r.p_value == pytest.approx(p, abs=1e-10)
    assert not r.significant


def test_matches_gbstats_live_when_installed() -> None:
    pytest.importorskip("gbstats")
    from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
    from gbstats.models.statistics import ProportionStatistic

    rng = np.random.default_rng(2)
    for _ in range(20):
        n_a, n_b = rng.integers(500, 50_000, 2)
        c_a, c_b = rng.binomial(n_a, 0.08), rng.binomial(n_b, 0.085)
        tuning = float(rng.integers(1000, 100_000))
        ref = SequentialTwoSidedTTest(
            ProportionStatistic(n=int(n_a), sum=int(c_a)),
            ProportionStatistic(n=int(n_b), sum=int(c_b)),
            SequentialConfig(sequential_tuning_parameter=tuning),
        ).compute_result()
        ours = sequential_test(
            ArmSummary.proportion(int(c_a), int(n_a)),
            ArmSummary.proportion(int(c_b), int(n_b)),
            tuning=tuning,
        )
        assert (ours.ci_low, ours.ci_high) == pytest.approx(ref.ci, abs=1e-10)
        assert ours.p_value == pytest.approx(ref.p_value, abs=1e-10)


def test_sequence_is_wider_than_fixed_interval_and_p_larger() -> None:
    fixed = two_proportion_test(1500, 15_000, 1650, 15_000)
    seq = sequential_test(CONTROL, TREATMENT)
    assert seq.ci_low < fixed.ci_low and seq.ci_high > fixed.ci_high
    assert seq.p_value > fixed.p_value


def test_p_value_below_alpha_exactly_when_interval_excludes_zero() -> None:
    rng = np.random.default_rng(4)
    est = rng.normal(0, 0.05, 2000)
    var = rng.uniform(1e-4, 1e-3, 2000)
    n = rng.integers(1000, 100_000, 2000)
    excluded = np.abs(est) > halfwidth(var, n, tuning=20_000)
    assert np.array_equal(excluded, always_valid_p(est, var, n, tuning=20_000) < 0.05)


def test_a_a_looks_every_batch_rarely_reject() -> None:
    rng = np.random.default_rng(9)
    experiments, looks, batch = 400, 30, 500
    conv = rng.binomial(batch, 0.1, size=(experiments, looks, 2)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1)[None, :]
    p = conv / n[..., None]
    var = p[..., 1] * (1 - p[..., 1]) / n + p[..., 0] * (1 - p[..., 0]) / n
    width = halfwidth(var, 2 * n, tuning=2 * batch * looks)
    rejected = (np.abs(p[..., 1] - p[..., 0]) > width).any(axis=1).mean()
    assert rejected <= 0.05


def test_monitor_keeps_the_running_intersection() -> None:
    monitor = SequentialMonitor(tuning=40_000)
    rng = np.random.default_rng(1)
    conv_c = conv_t = units = 0
    widths = []
    for _ in range(15):
        units += 1000
        conv_c += int(rng.binomial(1000, 0.10))
        conv_t += int(rng.binomial(1000, 0.12))
        r = monitor.look(ArmSummary.proportion(conv_c, units), ArmSummary.proportion(conv_t, units))
        widths.append(r.ci_high - r.ci_low)
    assert all(b <= a for a, b in itertools.pairwise(widths))
    ps = [r.p_value for r in monitor.history]
    assert all(b <= a for a, b in itertools.pairwise(ps))
    assert monitor.history[-1].significant and monitor.history[-1].ci_low > 0


@pytest.mark.parametrize(("alpha", "tuning"), [(0.0, 5000.0), (1.0, 5000.0), (0.05, 0.0)])
def test_bad_parameters_refused(alpha: float, tuning: float) -> None:
    with pytest.raises(ExperimentError):
        mixture_rho(alpha, tuning)
