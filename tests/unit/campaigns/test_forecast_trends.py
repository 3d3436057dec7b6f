"""Market-trend forecasts: a verdict only when the interval band is clear of the recent level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.forecast import prepare_series
from ssmas.campaigns.forecast.trends import forecast_market_trends


def series(slope: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(150)
    y = 50 + slope * t + 3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 1, len(t))
    return pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=len(t)), "y": y})


def test_rising_falling_and_flat_indicators() -> None:
    indicators = {
        "demand": prepare_series(series(0.5, 1)),
        "pricing": prepare_series(series(-0.5, 2)),
        "sentiment": prepare_series(series(0.0, 3)),
    }
    trends = forecast_market_trends(indicators, horizon=14, with_arima=False)
    assert trends["demand"].direction == "rising"
    assert trends["pricing"].direction == "falling"
    assert trends["sentiment"].direction == "flat"
    assert len(trends["demand"].forecast.frame) == 14


def test_no_indicators_is_refused() -> None:
    with pytest.raises(ValueError, match="no market indicators"):
        forecast_market_trends({}, horizon=7)
