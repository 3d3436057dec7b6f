"""Off-policy estimators against hand-computed values and simulated truth, their intervals, and
the Open Bandit acceptance: the Bernoulli-TS policy estimated from the uniform-random log, with
95% intervals containing its on-policy click rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.bandits import BanditError
from ssmas.campaigns.bandits.ope import IntervalSpec, doubly_robust, ips, snips
from ssmas.campaigns.bandits.open_bandit import (
    action_distribution,
    evaluate_bts_from_random,
    find_sample,
    read_log,
    reward_model,
)

ROOT = Path(__file__).resolve().parents[3]
NORMAL = IntervalSpec(method="normal")

# four logged rounds, by hand: w = pi / p = 0.5/0.25, 0.2/0.5, 1.0/0.5, 0/0.25 = 2, 0.4, 2, 0
R = np.array([1.0, 0.0, 1.0, 1.0])
P = np.array([0.25, 0.5, 0.5, 0.25])
PI = np.array([0.5, 0.2, 1.0, 0.0])
Q = np.array([0.6, 0.3, 0.5, 0.9])
QE = np.array([0.55, 0.4, 0.5, 0.2])


def test_ips_snips_dr_equal_their_closed_forms() -> None:
    assert ips(R, P, PI).value == pytest.approx((2 + 0 + 2 + 0) / 4)
    assert snips(R, P, PI).value == pytest.approx(4 / 4.4)
    # DR: QE + w (r - q) = 0.55 + 2·0.4, 0.4 + 0.4·(-0.3), 0.5 + 2·0.5, 0.2 + 0
    dr = (0.55 + 0.8 + 0.4 - 0.12 + 0.5 + 1.0 + 0.2) / 4
    assert doubly_robust(R, P, PI, Q, QE).value == pytest.approx(dr)


def test_on_policy_evaluation_gives_the_sample_mean() -> None:
    rng = np.random.default_rng(0)
    r = (rng.random(500) < 0.3).astype(float)
    p = np.full(500, 0.1)
    assert ips(r, p, p).value == pytest.approx(r.mean())
    assert snips(r, p, p).value == pytest.approx(r.mean())


def test_normal_interval_is_the_clt_interval_and_bootstrap_agrees() -> None:
    rng = np.random.default_rng(1)
    r = (rng.random(4000) < 0.2).astype(float)
    p = np.full(4000, 0.25)
    pi = rng.choice([0.0, 0.5], size=4000)
    terms = r * pi / p
    half = 1.959964 * terms.std(ddof=1) / np.sqrt(4000)
    normal = ips(r, p, pi, NORMAL)
    assert normal.low == pytest.approx(terms.mean() - half)
    assert normal.high == pytest.approx(terms.mean() + half)
    boot = ips(r, p, pi, IntervalSpec(n_bootstrap=1000, seed=3))
    assert boot.low == pytest.approx(normal.low, rel=0.05)
    assert boot.high == pytest.approx(normal.high, rel=0.05)
    # the same seed, the same interval
    assert ips(r, p, pi, IntervalSpec(n_bootstrap=1000, seed=3)) == boot


def test_estimators_recover_a_known_policy_value_and_cover_it() -> None:
    # three actions with click rates .1 .2 .5; logging uniform, target (.1, .2, .7): value .41
    rates = np.array([0.1, 0.2, 0.5])
    target = np.array([0.1, 0.2, 0.7])
    truth = float(target @ rates)
    covered = {"ips": 0, "snips": 0, "dr": 0}
    rng = np.random.default_rng(7)
    for _ in range(200):
        a = rng.integers(3, size=2000)
        r = (rng.random(2000) < rates[a]).astype(float)
        p = np.full(2000, 1 / 3)
        q = np.array([0.15, 0.15, 0.45])  # a deliberately imperfect reward model
        estimates = [
            ips(r, p, target[a], NORMAL),
            snips(r, p, target[a], NORMAL),
            doubly_robust(r, p, target[a], q[a], np.full(2000, target @ q), NORMAL),
        ]
        for est in estimates:
            covered[est.estimator] += est.contains(truth)
    # nominal 95% over 200 repetitions: a binomial 95% band is about [0.92, 0.98]
    for name, hits in covered.items():
        assert 0.91 <= hits / 200 <= 0.99, (name, hits)


def test_bad_inputs_are_refused_clearly() -> None:
    with pytest.raises(BanditError, match="empty"):
        ips([], [], [])
    with pytest.raises(BanditError, match="has 2 values"):
        ips(R, P[:2], PI)
    with pytest.raises(BanditError, match=r"propensity must be in \(0, 1\]"):
        ips(R, np.zeros(4), PI)
    with pytest.raises(BanditError, match="missing or infinite"):
        snips(R, P, np.array([0.1, np.nan, 0.2, 0.3]))
    with pytest.raises(BanditError, match="never takes a logged action"):
        snips(R, P, np.zeros(4))
    with pytest.raises(BanditError, match="level"):
        IntervalSpec(level=1.5)
    with pytest.raises(BanditError, match="interval"):
        IntervalSpec(method="magic")  # type: ignore[arg-type]
    with pytest.raises(BanditError, match="n_bootstrap"):
        IntervalSpec(n_bootstrap=5)


def test_action_distribution_and_reward_model_on_a_tiny_log() -> None:
    log = pd.DataFrame(
        {
            "item_id": [0, 0, 1, 2, 2, 2],
            "position": [1, 1, 1, 2, 2, 3],
            "click": [1, 0, 0, 1, 0, 0],
            "propensity_score": [0.5] * 6,
        }
    )
    pi = action_distribution(log)
    assert pi[0, 0] == pytest.approx(2 / 3) and pi[0, 1] == pytest.approx(1 / 3)
    assert pi[1, 2] == 1.0 and pi[2, 2] == 1.0
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)
    q = reward_model(log, prior_strength=2.0)
    # position 1: base rate 1/3; item 0 shown twice, clicked once: (1 + 2/3) / 4
    assert q[0, 0] == pytest.approx((1 + 2 / 3) / 4)
    assert q[0, 5] == pytest.approx(1 / 3)  # never shown: the position's rate


def test_read_log_refuses_a_broken_file(tmp_path: Path) -> None:
    with pytest.raises(BanditError, match="no Open Bandit log"):
        read_log(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,position,click,propensity_score\n3,4,0,0.1\n")
    with pytest.raises(BanditError, match="positions"):
        read_log(bad)
    short = tmp_path / "short.csv"
    short.write_text("item_id,position\n3,1\n")
    with pytest.raises(BanditError, match="lacks the columns"):
        read_log(short)


def test_bts_policy_estimated_from_the_random_log_covers_its_on_policy_mean() -> None:
    sample = find_sample(ROOT)
    random_log = read_log(sample / "random_all.csv")
    bts_log = read_log(sample / "bts_all.csv")
    assert len(random_log) == len(bts_log) == 10000
    # uniform logging over 80 items: every propensity is 1/80
    np.testing.assert_allclose(random_log["propensity_score"], 1 / 80)
    result = evaluate_bts_from_random(random_log, bts_log, ci=IntervalSpec(n_bootstrap=1000))
    assert result.on_policy_mean == pytest.approx(0.0042)
    for est in (result.ips, result.snips, result.dr):
        assert est.low < est.value < est.high
        assert est.contains(result.on_policy_mean), est
        # informative, not vacuous: narrower than the estimate itself
        assert est.high - est.low < est.value
    # the random log's own click rate (0.0038) is the uniform policy's; BTS is estimated above
    assert result.ips.value > random_log["click"].mean()
