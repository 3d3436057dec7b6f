"""The seed's ``CampaignOptimizationEngine``: tabular Q-learning with an epsilon-greedy choice
(learning rate 0.1, discount 0.95, epsilon 0.1, the Q-table keyed by a ``|``-joined state
string), trained and run against the recipient simulator so its regret sits beside the bandits'.

States and actions keep the seed's names where the simulator has them: the state is the
campaign's ``time_of_day`` (the send time in use), its ``message`` (the variant in use) and, in
a segmented world, the recipient's ``audience`` segment; the actions are ``keep``,
``adjust_message:<variant>`` and ``modify_timing:<send time>``. The seed's budget, scale and
pause actions change how many messages go out, not what one recipient sees, so a per-recipient
regret has nothing to say about them and they are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ssmas.campaigns.bandits.policies import BanditError, FloatArray
from ssmas.campaigns.bandits.simulator import RecipientSimulator


@dataclass
class CampaignOptimizationEngine:
    """Q-learning over a campaign's (variant, send time) configuration."""

    variants: list[str]
    send_times: list[str]
    learning_rate: float = 0.1
    discount_factor: float = 0.95
    epsilon: float = 0.1
    seed: int | None = None
    q_table: dict[str, dict[str, float]] = field(default_factory=dict)
    actions: list[str] = field(init=False)
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.variants or not self.send_times:
            raise BanditError("the optimiser needs at least one variant and one send time")
        if not 0 < self.learning_rate <= 1 or not 0 <= self.discount_factor < 1:
            raise BanditError("need 0 < learning_rate <= 1 and 0 <= discount_factor < 1")
        if not 0 <= self.epsilon <= 1:
            raise BanditError(f"epsilon must be in [0, 1], got {self.epsilon}")
        self.actions = (
            ["keep"]
            + [f"adjust_message:{v}" for v in self.variants]
            + [f"modify_timing:{t}" for t in self.send_times]
        )
        self.rng = np.random.default_rng(self.seed)

    def get_state(self, variant: int, send_time: int, segment: int | None = None) -> str:
        """The Q-table key of a configuration (and audience segment)."""
        parts = [self.send_times[send_time], self.variants[variant]]
        if segment is not None:
            parts.append(f"audience{segment}")
        return "|".join(parts)

    def _row(self, state: str) -> dict[str, float]:
        return self.q_table.setdefault(state, dict.fromkeys(self.actions, 0.0))

    def select_action(self, state: str) -> str:
        """Epsilon-greedy on the state's Q-values (ties broken at random)."""
        row = self._row(state)
        if self.rng.random() < self.epsilon:
            return self.actions[int(self.rng.integers(len(self.actions)))]
        values = np.array([row[a] for a in self.actions])
        best = np.flatnonzero(values == values.max())
        return self.actions[int(self.rng.choice(best))]

    def update_q_value(self, state: str, action: str, reward: float, next_state: str) -> None:
        """``Q(s, a) += lr (r + gamma max_a' Q(s', a') - Q(s, a))``."""
        if action not in self.actions:
            raise BanditError(f"unknown action {action!r}")
        row, after = self._row(state), self._row(next_state)
        target = reward + self.discount_factor * max(after.values())
        row[action] += self.learning_rate * (target - row[action])

    def apply(self, action: str, variant: int, send_time: int) -> tuple[int, int]:
        """The configuration after ``action``."""
        kind, _, value = action.partition(":")
        if kind == "adjust_message":
            return self.variants.index(value), send_time
        if kind == "modify_timing":
            return variant, self.send_times.index(value)
        if kind == "keep":
            return variant, send_time
        raise BanditError(f"unknown action {action!r}")

    def run(
        self, simulator: RecipientSimulator, horizon: int, *, contextual: bool = False
    ) -> FloatArray:
        """Optimise the campaign for ``horizon`` recipients, learning as it goes; the
        cumulative regret after each (each recipient gets the configuration the action set)."""
        if horizon < 1:
            raise BanditError(f"horizon must be at least 1, got {horizon}")
        if (
            list(simulator.variants) != self.variants
            or list(simulator.send_times) != self.send_times
        ):
            raise BanditError("the simulator's variants and send times differ from the optimiser's")
        variant, send_time = 0, 0
        segment = simulator.recipient()
        regret = np.empty(horizon)
        for t in range(horizon):
            state = self.get_state(variant, send_time, segment if contextual else None)
            action = self.select_action(state)
            variant, send_time = self.apply(action, variant, send_time)
            arm = simulator.arm(variant, send_time)
            reward = simulator.send(arm, segment)
            regret[t] = simulator.regret(arm, segment)
            segment = simulator.recipient()
            next_state = self.get_state(variant, send_time, segment if contextual else None)
            self.update_q_value(state, action, reward, next_state)
        return np.cumsum(regret)

    def best_configuration(self, segment: int | None = None) -> tuple[str, str]:
        """The (variant, send time) the highest learnt Q-value leads to: ``Q(s, a)`` values
        the configuration action ``a`` sets from state ``s``, so its best pair names it."""
        best, value = (0, 0), -np.inf
        for v in range(len(self.variants)):
            for s in range(len(self.send_times)):
                row = self.q_table.get(self.get_state(v, s, segment), {})
                for action, q in row.items():
                    if q > value:
                        best, value = self.apply(action, v, s), q
        return self.variants[best[0]], self.send_times[best[1]]


def q_learning_regret(
    make_simulator: Callable[[int], RecipientSimulator],
    horizon: int,
    seeds: list[int],
    *,
    training: int = 0,
    contextual: bool = False,
) -> FloatArray:
    """The optimiser's cumulative regret over ``horizon`` recipients averaged over ``seeds``,
    after ``training`` recipients of learning in a separate simulator run (not counted)."""
    if not seeds:
        raise BanditError("need at least one seed")
    runs = []
    for s in seeds:
        world = make_simulator(s)
        engine = CampaignOptimizationEngine(list(world.variants), list(world.send_times), seed=s)
        if training:  # a different stream of recipients from the same world
            engine.run(make_simulator(s + 7919), training, contextual=contextual)
        runs.append(engine.run(world, horizon, contextual=contextual))
    return np.asarray(np.mean(runs, axis=0), dtype=np.float64)
