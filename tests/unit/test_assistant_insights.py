"""Intent trends and the escalation-risk model: exact figures on hand-made series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from ssmas.assistant.insights import (
    conversation_features,
    fit_risk,
    intent_trends,
    trend_of,
)


def test_a_steadily_growing_intent_is_rising_with_its_exact_slope() -> None:
    trend = trend_of("payout", list(range(1, 15)))
    assert trend.direction == "rising" and trend.slope_per_day == 1.0
    assert trend.tau == 1.0 and trend.p_value < 0.001 and trend.total == 105
    falling = trend_of("ads_txt", list(range(28, 0, -2)))
    assert falling.direction == "falling" and falling.slope_per_day == -2.0


def test_noise_and_constants_are_steady() -> None:
    flat = trend_of("greet", [5] * 14)
    assert (flat.direction, flat.slope_per_day, flat.p_value) == ("steady", 0.0, 1.0)
    noisy = trend_of("invoice", [7, 3, 8, 2, 9, 4, 6, 5, 8, 3, 7, 4, 6, 5])
    assert noisy.direction == "steady" and noisy.p_value >= 0.05


def test_intent_trends_count_by_day_and_skip_small_intents() -> None:
    end = date(2026, 12, 6)
    start = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rows: list[tuple[datetime, str | None]] = []
    for day in range(14):
        rows += [(start + timedelta(days=day), "payout")] * (day + 1)
        rows += [(start + timedelta(days=day), "rare")]
        rows += [(start + timedelta(days=day), None)]
    rows.append((start - timedelta(days=3), "payout"))  # outside the window
    [payout] = intent_trends(rows, end)
    assert payout.intent == "payout" and payout.daily == list(range(1, 15))
    assert payout.direction == "rising"


def test_conversation_features_are_exact() -> None:
    messages = [("neutral", 0.9), ("negative", 0.4), ("negative", None), ("positive", 0.8)]
    assert conversation_features(messages) == pytest.approx([4.0, 0.5, 0.4, 0.7, 2.0])


def test_risk_needs_enough_history_and_then_learns_the_signal() -> None:
    few = np.zeros((10, 5))
    model, auc, reason = fit_risk(few, np.zeros(10, dtype=int))
    assert model is None and auc is None and "10 conversations" in reason
    rng = np.random.default_rng(0)
    n = 200
    negative = rng.uniform(0, 1, n)
    x = np.column_stack(
        [
            rng.integers(1, 8, n),
            negative,
            rng.uniform(0.3, 1, n),
            rng.uniform(0.5, 1, n),
            rng.integers(0, 3, n),
        ]
    )
    y = (negative + rng.normal(0, 0.15, n) > 0.7).astype(int)
    model, auc, reason = fit_risk(x.astype(float), y)
    assert reason == "fitted" and auc is not None and auc > 0.85
    none_escalated = fit_risk(x.astype(float), np.zeros(n, dtype=int))
    assert none_escalated[0] is None and "escalations" in none_escalated[2]
