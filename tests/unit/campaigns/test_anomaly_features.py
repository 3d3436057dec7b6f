"""Feature tables for the ensemble: validation batches checked by the real phone validator (a
batch suddenly full of short numbers, or all from one area code, is flagged among normal ones),
and campaign rates from counts (checked against hand-computed values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.anomaly import (
    AnomalyEnsemble,
    AnomalyInputError,
    campaign_features,
    detect_anomalies,
    validation_features,
)
from ssmas.campaigns.phone import PhoneCheck, Reason, check_many

LADAS = ("55", "33", "81", "222", "442", "999", "664", "477")


def numbers(rng: np.random.Generator, n: int, *, short: float, ladas: tuple[str, ...]) -> list[str]:
    out = []
    for _ in range(n):
        lada = str(rng.choice(ladas))
        rest = "".join(str(d) for d in rng.integers(0, 10, 10 - len(lada)))
        rest = str(rng.integers(2, 9)) + rest[1:]  # subscriber numbers do not start with 0 or 1
        number = lada + rest
        out.append(number[:7] if rng.random() < short else number)
    return out


def batches(rng: np.random.Generator, prefix: str, n: int) -> dict[str, list[PhoneCheck]]:
    return {
        f"{prefix}{i:02d}": check_many(
            numbers(rng, 150, short=rng.uniform(0.02, 0.08), ladas=LADAS)
        )
        for i in range(n)
    }


def test_an_odd_validation_batch_is_flagged_among_normal_ones() -> None:
    # fitted on 60 past batches, then today's ten normal ones and two odd ones are scored
    rng = np.random.default_rng(11)
    history = validation_features(batches(rng, "h", 60))
    today = batches(rng, "b", 10)
    today["short-burst"] = check_many(numbers(rng, 150, short=0.45, ladas=LADAS))
    today["one-lada"] = check_many(numbers(rng, 150, short=0.05, ladas=("999",)))
    table = validation_features(today)
    assert table.loc["short-burst", "too_short_share"] > 0.3
    assert table.loc["one-lada", "top_lada_share"] == pytest.approx(1.0)
    assert table.loc["b00", "too_short_share"] == pytest.approx(
        sum(c.reason == Reason.TOO_SHORT for c in today["b00"]) / 150
    )

    model = AnomalyEnsemble().fit(history)
    events = detect_anomalies(
        table.rename_axis("batch_id").reset_index(),
        source="validations",
        id_column="batch_id",
        feature_columns=list(table.columns),
        ensemble=model,
        threshold=0.9,
    )
    flagged = [e.entity_id for e in events]
    assert set(flagged[:2]) == {"short-burst", "one-lada"}, flagged
    assert all(e.score > 0.98 for e in events[:2])


def test_campaign_rates_from_counts() -> None:
    counts = pd.DataFrame(
        {
            "sent": [1000, 10],
            "delivered": [900, 0],
            "clicked": [90, 0],
            "converted": [9, 0],
            "cost": [50.0, 1.0],
        },
        index=["a", "b"],
    )
    rates = campaign_features(counts)
    assert rates.loc["a"].to_dict() == pytest.approx(
        {
            "log_sent": 3.0,
            "delivery_rate": 0.9,
            "click_rate": 0.1,
            "conversion_rate": 0.1,
            "cost_per_send": 0.05,
        }
    )
    assert rates.loc["b", "click_rate"] == 0.0  # nothing delivered: a zero rate, not NaN


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: validation_features({}), "no validation batches"),
        (lambda: validation_features({"x": []}), "batch 'x' is empty"),
        (lambda: campaign_features(pd.DataFrame({"sent": [1]})), "missing count column"),
        (
            lambda: campaign_features(
                pd.DataFrame(
                    {"sent": [0], "delivered": [0], "clicked": [0], "converted": [0], "cost": [0]}
                )
            ),
            "sent > 0",
        ),
        (
            lambda: campaign_features(
                pd.DataFrame(
                    {"sent": [5], "delivered": [1], "clicked": [0], "converted": [0], "cost": [-2]}
                )
            ),
            "cannot be negative",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(make: object, message: str) -> None:
    with pytest.raises(AnomalyInputError, match=message):
        make()  # type: ignore[operator]
