"""Campaign optimisation benchmark, the bandit part (issue 17 item 2).

1. Cumulative regret in the recipient simulator (``ssmas.campaigns.bandits.campaign_simulator``:
   4 message variants x 3 send times, conversion 2.4-6.0%, the best arm 1.2 points above the
   next), averaged over seeds that seed both the policy and the recipients: Thompson sampling,
   UCB1, epsilon-greedy (0.1), uniform random and the seed's Q-learning optimiser (trained on as
   many recipients first, in a separate stream; the regret counted is the run's). LinUCB and
   Thompson are also run in the segmented world (three audiences whose best arms differ), where
   the context pays.
2. Off-policy evaluation on the Open Bandit sample: the Bernoulli-TS policy's click rate
   estimated by IPS, SNIPS and DR from the uniform-random log, each with a 95% bootstrap
   interval, beside the BTS log's own mean (``bts_on_policy_mean``).

Figures go to ``results/campaigns_bandits.json`` and are merged into
``results/campaigns_optimise.json`` (the file the issue's acceptance names).

    .venv/bin/python benchmarks/campaigns_bandits.py [--quick]

``--quick`` (under a minute, for the test): 5,000 recipients, 3 seeds, 200 bootstrap draws;
its figures go to ``campaigns_bandits.quick.json`` only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import merge_figures, write_result  # noqa: E402
from ssmas.campaigns.bandits import (  # noqa: E402
    UCB1,
    EpsilonGreedy,
    LinUCB,
    Policy,
    RecipientSimulator,
    ThompsonSampling,
    UniformRandom,
    campaign_simulator,
    mean_regret,
)
from ssmas.campaigns.bandits.ope import IntervalSpec  # noqa: E402
from ssmas.campaigns.bandits.open_bandit import (  # noqa: E402
    evaluate_bts_from_random,
    find_sample,
    read_log,
)
from ssmas.campaigns.bandits.qlearning import q_learning_regret  # noqa: E402

NAME = "campaigns_bandits"
console = Console(stderr=True)


def regrets(horizon: int, seeds: list[int]) -> dict[str, float]:
    """Final cumulative regret of each policy, averaged over ``seeds``."""
    n_arms = campaign_simulator().n_arms

    def plain(seed: int) -> RecipientSimulator:
        return campaign_simulator(10_000 + seed)

    def segmented(seed: int) -> RecipientSimulator:
        return campaign_simulator(20_000 + seed, segments=True)

    policies: dict[str, Callable[[int], Policy]] = {
        "thompson": lambda s: ThompsonSampling(n_arms, seed=s),
        "ucb1": lambda s: UCB1(n_arms, seed=s),
        "epsilon_greedy": lambda s: EpsilonGreedy(n_arms, epsilon=0.1, seed=s),
        "uniform": lambda s: UniformRandom(n_arms, seed=s),
    }
    out: dict[str, float] = {}
    for name, make in policies.items():
        started = time.perf_counter()
        out[f"regret_{name}"] = round(float(mean_regret(make, plain, horizon, seeds)[-1]), 2)
        console.print(f"{name}: {out[f'regret_{name}']} ({time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    q = q_learning_regret(plain, horizon, seeds, training=horizon)
    out["regret_q_learning"] = round(float(q[-1]), 2)
    console.print(f"q_learning: {out['regret_q_learning']} ({time.perf_counter() - started:.0f} s)")
    lin = mean_regret(
        lambda s: LinUCB(n_arms, 3, alpha=0.3, seed=s), segmented, horizon, seeds, contextual=True
    )
    ts = mean_regret(lambda s: ThompsonSampling(n_arms, seed=s), segmented, horizon, seeds)
    out["regret_segments_linucb"] = round(float(lin[-1]), 2)
    out["regret_segments_thompson"] = round(float(ts[-1]), 2)
    return out


def off_policy(n_bootstrap: int) -> dict[str, Any]:
    sample = find_sample(HERE.parent)
    result = evaluate_bts_from_random(
        read_log(sample / "random_all.csv"),
        read_log(sample / "bts_all.csv"),
        ci=IntervalSpec(n_bootstrap=n_bootstrap),
    )
    figures: dict[str, Any] = {"bts_on_policy_mean": round(result.on_policy_mean, 6)}
    for est in (result.ips, result.snips, result.dr):
        key = f"ope_{est.estimator}"
        figures[key] = round(est.value, 6)
        figures[f"{key}_ci95"] = [round(est.low, 6), round(est.high, 6)]
        figures[f"{key}_covers_on_policy"] = est.contains(result.on_policy_mean)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 recipients, 3 seeds")
    args = parser.parse_args()
    horizon, seeds, n_bootstrap = (5_000, 3, 200) if args.quick else (50_000, 20, 2_000)
    started = time.perf_counter()
    figures: dict[str, Any] = {"regret_horizon": horizon, "regret_seeds": seeds}
    figures |= regrets(horizon, list(range(seeds)))
    figures |= off_policy(n_bootstrap)
    figures["thompson_below_epsilon_greedy_and_uniform"] = (
        figures["regret_thompson"] < figures["regret_epsilon_greedy"] < figures["regret_uniform"]
    )

    table = Table(title=f"Campaign bandits: cumulative regret after {horizon:,} recipients")
    table.add_column("policy")
    table.add_column("regret", justify="right")
    for key in ("thompson", "ucb1", "epsilon_greedy", "uniform", "q_learning"):
        table.add_row(key, f"{figures[f'regret_{key}']:.1f}")
    table.add_row("segments: linucb", f"{figures['regret_segments_linucb']:.1f}")
    table.add_row("segments: thompson", f"{figures['regret_segments_thompson']:.1f}")
    ope = Table(title="Open Bandit: Bernoulli-TS estimated from the uniform-random log")
    ope.add_column("estimator")
    ope.add_column("value", justify="right")
    ope.add_column("95% CI", justify="right")
    ope.add_column("covers on-policy", justify="right")
    for key in ("ope_ips", "ope_snips", "ope_dr"):
        low, high = figures[f"{key}_ci95"]
        covers = figures[f"{key}_covers_on_policy"]
        ope.add_row(key, f"{figures[key]:.5f}", f"[{low:.5f}, {high:.5f}]", str(covers))
    ope.add_row("bts_on_policy_mean", f"{figures['bts_on_policy_mean']:.5f}", "", "")
    out = Console()
    out.print(table)
    out.print(ope)
    out.print(
        f"targets: thompson < epsilon_greedy < uniform: "
        f"{figures['thompson_below_epsilon_greedy_and_uniform']}; every CI covers: "
        f"{all(figures[f'{k}_covers_on_policy'] for k in ('ope_ips', 'ope_snips', 'ope_dr'))}"
    )
    notes = (
        f"{seeds} seeds x {horizon} recipients; Q-learning trained on {horizon} first; "
        f"OPE with {n_bootstrap} bootstrap draws; {time.perf_counter() - started:.0f} s"
    )
    write_result(NAME, figures, notes, quick=args.quick)
    if not args.quick:
        merge_figures("campaigns_optimise", figures, "campaigns_bandits.py")


if __name__ == "__main__":
    main()
