"""The campaign bandits benchmark runs end to end in its quick form: regret of every policy and
the Q-learning optimiser in the simulator, and the Open Bandit off-policy estimates with 95%
intervals covering the Bernoulli-TS policy's on-policy mean."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.bench_support import run_quick

KEYS = {
    "regret_thompson",
    "regret_epsilon_greedy",
    "regret_uniform",
    "regret_ucb1",
    "regret_q_learning",
    "regret_segments_linucb",
    "ope_ips",
    "ope_snips",
    "ope_dr",
    "ope_ips_ci95",
    "ope_snips_ci95",
    "ope_dr_ci95",
    "bts_on_policy_mean",
}


@pytest.mark.slow
def test_quick_run_reports_regret_and_off_policy_estimates() -> None:
    stdout, body = run_quick("campaigns_bandits")
    figures: dict[str, Any] = body["figures"]
    assert set(figures) >= KEYS
    assert figures["regret_horizon"] == 5000 and figures["regret_seeds"] == 3
    # uniform random is the worst of the learners: its regret is the mean gap x horizon
    assert figures["regret_uniform"] == pytest.approx(0.0215 * 5000, rel=0.05)
    for key in ("thompson", "ucb1", "epsilon_greedy", "q_learning"):
        assert 0 < figures[f"regret_{key}"] < figures["regret_uniform"]
    assert figures["regret_segments_linucb"] < figures["regret_segments_thompson"]
    assert figures["bts_on_policy_mean"] == pytest.approx(0.0042)
    for key in ("ope_ips", "ope_snips", "ope_dr"):
        low, high = figures[f"{key}_ci95"]
        assert low < figures[key] < high
        assert low <= figures["bts_on_policy_mean"] <= high
    assert "regret" in stdout and "ope_dr" in stdout
