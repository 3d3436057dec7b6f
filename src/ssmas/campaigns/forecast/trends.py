"""The seed's market-trend forecast on the same engine: each market indicator (demand,
competition, pricing, sentiment or any other) forecast with calibrated intervals, and called
rising, falling or flat only when its whole interval band says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ssmas.campaigns.forecast.engine import ForecastResult, forecast_series
from ssmas.campaigns.forecast.series import Series

__all__ = ["TrendForecast", "forecast_market_trends", "trend_direction"]

Direction = Literal["rising", "falling", "flat"]


@dataclass(frozen=True)
class TrendForecast:
    """One indicator's forecast, the recent level it is compared with and the verdict."""

    indicator: str
    forecast: ForecastResult
    recent_level: float
    direction: Direction


def trend_direction(series: Series, result: ForecastResult) -> tuple[float, Direction]:
    """``rising`` when the interval's lower bound, averaged over the horizon, is above the mean
    of the last ``horizon`` observed values; ``falling`` when the upper bound is below it."""
    horizon = len(result.frame)
    recent = float(np.mean(series.y[series.observed][-horizon:]))
    if float(result.frame["yhat_lower"].mean()) > recent:
        return recent, "rising"
    if float(result.frame["yhat_upper"].mean()) < recent:
        return recent, "falling"
    return recent, "flat"


def forecast_market_trends(
    indicators: Mapping[str, Series],
    horizon: int = 90,
    level: float = 80.0,
    *,
    with_arima: bool = True,
) -> dict[str, TrendForecast]:
    """Forecast every indicator ``horizon`` steps ahead and say where each is heading."""
    if not indicators:
        raise ValueError("no market indicators to forecast")
    out: dict[str, TrendForecast] = {}
    for name, series in indicators.items():
        result = forecast_series(series, horizon, level, with_arima=with_arima)
        recent, direction = trend_direction(series, result)
        out[name] = TrendForecast(name, result, recent, direction)
    return out
