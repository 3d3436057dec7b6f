"""Bandit policies: their choice rules against closed forms, reproducible seeds, refusals, and
cumulative regret in the recipient simulator (Thompson below epsilon-greedy and uniform)."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.campaigns.bandits import (
    UCB1,
    BanditError,
    EpsilonGreedy,
    LinUCB,
    RecipientSimulator,
    ThompsonSampling,
    UniformRandom,
    campaign_simulator,
    mean_regret,
    run_policy,
)


def test_ucb1_plays_every_arm_once_then_the_closed_form_upper_bound() -> None:
    policy = UCB1(3, seed=0)
    first = []
    for reward in (1.0, 0.0, 0.0):
        arm = policy.select()
        first.append(arm)
        policy.update(arm, reward)
    assert first == [0, 1, 2]
    # means 1, 0, 0 after 3 pulls: bound = mean + sqrt(2 ln 3 / 1), arm 0 leads
    assert policy.select() == 0
    for _ in range(20):
        policy.update(0, 0.0)  # arm 0 now 1/21: 1/21 + sqrt(2 ln 23 / 21) < sqrt(2 ln 23)
    bound = policy.means() + np.sqrt(2 * np.log(23) / policy.pulls)
    assert bound[0] == pytest.approx(1 / 21 + np.sqrt(2 * np.log(23) / 21))
    assert policy.select() in (1, 2)


def test_thompson_posterior_is_beta_of_successes_and_failures() -> None:
    policy = ThompsonSampling(2, alpha=2.0, beta=3.0, seed=1)
    for reward in (1, 1, 0, 1):
        policy.update(0, reward)
    a, b = policy.posterior()
    assert a.tolist() == [5.0, 2.0] and b.tolist() == [4.0, 3.0]


def test_thompson_select_frequency_matches_probability_one_posterior_beats_the_other() -> None:
    # P(Beta(3,1) > Beta(1,3)) = 1 - P(X<Y) closed form; with Beta(1,1) priors and 2/0 vs 0/2
    policy = ThompsonSampling(2, seed=7)
    policy.update(0, 1)
    policy.update(0, 1)
    policy.update(1, 0)
    policy.update(1, 0)
    share = np.mean([policy.select() == 0 for _ in range(20000)])
    # X~Beta(3,1), Y~Beta(1,3): P(X>Y) = 1 - ∫ F_X dF_Y = 1 - ∫ y^3 · 3(1-y)^2 dy = 1 - 1/20
    assert share == pytest.approx(0.95, abs=0.01)


def test_epsilon_greedy_explores_at_rate_epsilon() -> None:
    policy = EpsilonGreedy(4, epsilon=0.2, seed=3)
    policy.update(2, 1.0)
    choices = np.array([policy.select() for _ in range(20000)])
    # greedy arm 2 w.p. 0.8 + 0.2/4, each other arm 0.2/4
    assert np.mean(choices == 2) == pytest.approx(0.85, abs=0.01)
    assert np.mean(choices == 0) == pytest.approx(0.05, abs=0.01)


def test_linucb_coefficients_equal_ridge_regression_per_arm() -> None:
    rng = np.random.default_rng(0)
    policy = LinUCB(2, 3, alpha=0.5, ridge=2.0, seed=0)
    xs = rng.normal(size=(50, 3))
    ys = (rng.random(50) < 0.4).astype(float)
    for x, y in zip(xs, ys, strict=True):
        policy.update(1, y, x)
    ridge = np.linalg.solve(xs.T @ xs + 2.0 * np.eye(3), xs.T @ ys)
    np.testing.assert_allclose(policy.theta()[1], ridge, atol=1e-10)
    np.testing.assert_allclose(policy.theta()[0], 0.0)
    # the unplayed arm has the wider bound at any context
    x = np.array([1.0, 0.0, 0.0])
    spread = np.sqrt(x @ np.linalg.inv(xs.T @ xs + 2.0 * np.eye(3)) @ x)
    assert ridge @ x + 0.5 * spread < 0.5 * np.sqrt(0.5)
    assert policy.select(x) == 0


def test_same_seed_same_choices_and_different_seed_differs() -> None:
    def choices(seed: int) -> list[int]:
        sim = campaign_simulator(seed)
        policy = ThompsonSampling(sim.n_arms, seed=seed)
        out = []
        for _ in range(300):
            arm = policy.select()
            policy.update(arm, sim.send(arm))
            out.append(arm)
        return out

    assert choices(5) == choices(5)
    assert choices(5) != choices(6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: UCB1(0),
        lambda: EpsilonGreedy(3, epsilon=1.5),
        lambda: ThompsonSampling(3, alpha=0),
        lambda: LinUCB(3, 0),
        lambda: UniformRandom(True),  # type: ignore[arg-type]
    ],
)
def test_bad_construction_is_refused(make: object) -> None:
    with pytest.raises(BanditError):
        make()  # type: ignore[operator]


def test_bad_updates_and_contexts_are_refused() -> None:
    policy = UCB1(3)
    with pytest.raises(BanditError, match="not one of the 3 arms"):
        policy.update(3, 1.0)
    with pytest.raises(BanditError, match=r"\[0, 1\]"):
        policy.update(0, 2.0)
    lin = LinUCB(3, 2)
    with pytest.raises(BanditError, match="needs a context"):
        lin.select()
    with pytest.raises(BanditError, match="2 finite numbers"):
        lin.select(np.array([1.0, np.nan]))


def test_simulator_refuses_bad_rates_and_shapes() -> None:
    with pytest.raises(BanditError, match="strictly between 0 and 1"):
        RecipientSimulator(np.array([[0.0, 0.5]]))
    with pytest.raises(BanditError, match="table"):
        RecipientSimulator(np.array([0.1, 0.2]))
    with pytest.raises(BanditError, match="segment_shifts"):
        RecipientSimulator(np.array([[0.1, 0.2]]), segment_shifts=np.zeros((2, 2, 1)))
    with pytest.raises(BanditError, match="arms"):
        run_policy(UCB1(3), campaign_simulator(0), 10)


def test_simulator_conversion_rates_and_regret() -> None:
    sim = campaign_simulator(0)
    best = sim.arm(3, 2)
    assert sim.label(best) == ("offer", "19:00")
    assert sim.regret(best) == 0.0
    assert sim.regret(sim.arm(1, 0)) == pytest.approx(0.060 - 0.024)
    draws = np.mean([sim.send(best) for _ in range(40000)])
    assert draws == pytest.approx(0.06, abs=0.004)
    segmented = campaign_simulator(0, segments=True)
    # segment 1 prefers 13:00: its logit is raised by 0.6
    p = segmented.probabilities(1)
    assert int(np.argmax(p)) == sim.arm(3, 1)
    logit = np.log(0.048 / 0.952) + 0.6
    assert p[sim.arm(3, 1)] == pytest.approx(1 / (1 + np.exp(-logit)))


@pytest.mark.slow
def test_thompson_regret_is_below_epsilon_greedy_and_uniform() -> None:
    # two variants x two send times, 20,000 recipients, ten seeds: Thompson's regret grows
    # like log t, epsilon-greedy's like 0.1 · mean gap · t once it has settled
    rates = np.array([[0.04, 0.06], [0.05, 0.08]])
    seeds = list(range(10))
    horizon = 20000

    def world(s: int) -> RecipientSimulator:
        return RecipientSimulator(rates, seed=1000 + s)

    ts = mean_regret(lambda s: ThompsonSampling(4, seed=s), world, horizon, seeds)[-1]
    eg = mean_regret(lambda s: EpsilonGreedy(4, seed=s), world, horizon, seeds)[-1]
    uni = mean_regret(lambda s: UniformRandom(4, seed=s), world, horizon, seeds[:2])[-1]
    # uniform's expected regret is the mean gap times the horizon
    assert uni == pytest.approx((0.08 - rates.mean()) * horizon, rel=0.03)
    assert ts < eg < uni
    assert ts < 0.8 * eg


def test_linucb_uses_the_segment_to_beat_context_free_thompson() -> None:
    seeds = list(range(3))

    def world(s: int) -> RecipientSimulator:
        return campaign_simulator(2000 + s, segments=True)

    lin = mean_regret(
        lambda s: LinUCB(12, 3, alpha=0.3, seed=s), world, 8000, seeds, contextual=True
    )[-1]
    ts = mean_regret(lambda s: ThompsonSampling(12, seed=s), world, 8000, seeds)[-1]
    assert lin < ts
