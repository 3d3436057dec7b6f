"""The online promotion test: live squared errors per variant, an always-valid sequence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ssmas.pricing.lifecycle.promotion import PromotionPolicy, online_evidence

POLICY = PromotionPolicy(min_gain=0.02, alpha=0.05, min_outcomes=100)


def _outcomes(
    rng: np.random.Generator, n: int, variant: str, version: int, sd: float, bias: float = 0.0
) -> list[dict[str, Any]]:
    price = rng.lognormal(0.0, 0.6, size=n)
    predicted = price + bias + rng.normal(0.0, sd, size=n)
    return [
        {
            "variant": variant,
            "model_version": str(version),
            "filled": True,
            "clearing_cpm": float(p),
            "predicted_cpm": float(q),
            "revenue_eur": float(p) / 1000.0,
        }
        for p, q in zip(price, predicted, strict=True)
    ]


def test_a_clearly_better_challenger_is_promoted() -> None:
    rng = np.random.default_rng(0)
    rows = _outcomes(rng, 2000, "champion", 1, sd=0.5) + _outcomes(
        rng, 500, "challenger", 2, sd=0.3
    )
    evidence = online_evidence(rows, 1, 2, POLICY)
    assert evidence.verdict == "promote"
    assert evidence.challenger_rmse is not None and evidence.champion_rmse is not None
    assert evidence.challenger_rmse < 0.98 * evidence.champion_rmse
    assert evidence.margin_ci is not None and evidence.margin_ci[0] > 0


def test_a_gain_below_the_margin_is_not_enough() -> None:
    rng = np.random.default_rng(1)
    rows = _outcomes(rng, 4000, "champion", 1, sd=0.50) + _outcomes(
        rng, 4000, "challenger", 2, sd=0.495
    )
    assert online_evidence(rows, 1, 2, POLICY).verdict != "promote"


@pytest.mark.parametrize("seed", range(20))
def test_a_challenger_worse_online_is_never_promoted_at_any_look(seed: int) -> None:
    """Looked at after every 100 outcomes (the worker looks often): never a promotion."""
    rng = np.random.default_rng(seed)
    champion = _outcomes(rng, 3000, "champion", 1, sd=0.40)
    challenger = _outcomes(rng, 3000, "challenger", 2, sd=0.44, bias=0.02)
    verdicts = [
        online_evidence(champion[:n] + challenger[:n], 1, 2, POLICY).verdict
        for n in range(100, 3001, 100)
    ]
    assert "promote" not in verdicts
    assert verdicts[-1] == "worse"


def test_too_few_outcomes_keep_collecting_and_other_versions_do_not_count() -> None:
    rng = np.random.default_rng(2)
    rows = (
        _outcomes(rng, 50, "champion", 1, sd=0.5)
        + _outcomes(rng, 50, "challenger", 2, sd=0.1)
        + _outcomes(rng, 5000, "challenger", 7, sd=0.1)  # an older challenger's outcomes
    )
    evidence = online_evidence(rows, 1, 2, POLICY)
    assert evidence.verdict == "collecting"
    assert (evidence.n_champion, evidence.n_challenger) == (50, 50)


def test_unfilled_and_unpriced_outcomes_are_ignored_and_no_challenger_is_reported() -> None:
    rows = [
        {"variant": "champion", "model_version": "1", "filled": False, "clearing_cpm": None,
         "predicted_cpm": 1.0, "revenue_eur": 0.0},
        {"variant": "challenger", "model_version": "2", "filled": True, "clearing_cpm": 1.0,
         "predicted_cpm": None, "revenue_eur": 0.001},
    ]  # fmt: skip
    evidence = online_evidence(rows, 1, 2, POLICY)
    assert evidence.n_champion == 0 and evidence.n_challenger == 0
    assert online_evidence(rows, 1, None, POLICY).verdict == "no_challenger"


def test_a_challenger_losing_revenue_is_not_promoted_even_if_more_accurate() -> None:
    rng = np.random.default_rng(3)
    champion = _outcomes(rng, 3000, "champion", 1, sd=0.5)
    challenger = _outcomes(rng, 3000, "challenger", 2, sd=0.3)
    for row in challenger:
        row["revenue_eur"] *= 0.5
    evidence = online_evidence(champion + challenger, 1, 2, POLICY)
    assert evidence.verdict == "worse"
    assert evidence.revenue_ci is not None and evidence.revenue_ci[1] < 0
