"""The seed's Q-learning campaign optimiser: its update rule against the closed form, its
actions, reproducibility, refusals, and its regret in the simulator beside the bandits'."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.campaigns.bandits import BanditError, RecipientSimulator, UniformRandom, mean_regret
from ssmas.campaigns.bandits.qlearning import CampaignOptimizationEngine, q_learning_regret


def engine(**kwargs: float) -> CampaignOptimizationEngine:
    return CampaignOptimizationEngine(["a", "b"], ["09:00", "19:00"], seed=0, **kwargs)  # type: ignore[arg-type]


def test_seed_hyperparameters_and_actions() -> None:
    e = engine()
    assert (e.learning_rate, e.discount_factor, e.epsilon) == (0.1, 0.95, 0.1)
    assert e.actions == [
        "keep",
        "adjust_message:a",
        "adjust_message:b",
        "modify_timing:09:00",
        "modify_timing:19:00",
    ]
    assert e.get_state(1, 0) == "09:00|b"
    assert e.get_state(1, 0, 2) == "09:00|b|audience2"
    assert e.apply("adjust_message:b", 0, 1) == (1, 1)
    assert e.apply("modify_timing:09:00", 1, 1) == (1, 0)
    assert e.apply("keep", 1, 0) == (1, 0)


def test_q_update_is_the_q_learning_rule() -> None:
    e = engine()
    e.q_table["19:00|a"] = dict.fromkeys(e.actions, 0.0) | {"keep": 2.0}
    e.update_q_value("09:00|a", "modify_timing:19:00", 1.0, "19:00|a")
    # 0 + 0.1 (1 + 0.95 · 2 - 0) = 0.29
    assert e.q_table["09:00|a"]["modify_timing:19:00"] == pytest.approx(0.29)
    e.update_q_value("09:00|a", "modify_timing:19:00", 0.0, "19:00|a")
    assert e.q_table["09:00|a"]["modify_timing:19:00"] == pytest.approx(0.29 + 0.1 * (1.9 - 0.29))


def test_greedy_choice_follows_the_table_and_epsilon_explores() -> None:
    e = engine(epsilon=0.0)
    e.q_table["09:00|a"] = dict.fromkeys(e.actions, 0.0) | {"adjust_message:b": 0.5}
    assert {e.select_action("09:00|a") for _ in range(50)} == {"adjust_message:b"}
    explorer = engine(epsilon=1.0)
    picks = [explorer.select_action("09:00|a") for _ in range(5000)]
    assert set(picks) == set(explorer.actions)


def test_bad_settings_and_actions_are_refused() -> None:
    with pytest.raises(BanditError, match="discount_factor"):
        engine(discount_factor=1.0)
    with pytest.raises(BanditError, match="epsilon"):
        engine(epsilon=2.0)
    with pytest.raises(BanditError, match="at least one variant"):
        CampaignOptimizationEngine([], ["09:00"])
    with pytest.raises(BanditError, match="unknown action"):
        engine().update_q_value("09:00|a", "scale_up", 1.0, "09:00|a")
    with pytest.raises(BanditError, match="differ"):
        engine().run(RecipientSimulator(np.full((3, 2), 0.1)), 10)


def test_learns_the_best_configuration_and_is_reproducible() -> None:
    rates = np.array([[0.05, 0.10], [0.08, 0.30]])

    def world(seed: int) -> RecipientSimulator:
        return RecipientSimulator(rates, ["a", "b"], ["09:00", "19:00"], seed=seed)

    e = engine()
    first = e.run(world(1), 8000)
    assert e.best_configuration() == ("b", "19:00")
    again = engine().run(world(1), 8000)
    np.testing.assert_array_equal(first, again)
    # it beats sending at random by a wide margin, and training first lowers its regret
    uniform = mean_regret(lambda s: UniformRandom(4, seed=s), world, 8000, [0, 1])[-1]
    untrained = q_learning_regret(world, 8000, [0, 1, 2])[-1]
    trained = q_learning_regret(world, 8000, [0, 1, 2], training=8000)[-1]
    assert untrained < 0.5 * uniform
    assert trained < untrained


def test_contextual_states_learn_each_audience_its_own_time() -> None:
    shifts = np.array([[[0.0, 1.5], [0.0, 1.5]], [[1.5, 0.0], [1.5, 0.0]]])
    sim = RecipientSimulator(
        np.full((2, 2), 0.1), ["a", "b"], ["09:00", "19:00"], segment_shifts=shifts, seed=3
    )
    e = engine()
    e.run(sim, 20000, contextual=True)
    assert e.best_configuration(0)[1] == "19:00"
    assert e.best_configuration(1)[1] == "09:00"
