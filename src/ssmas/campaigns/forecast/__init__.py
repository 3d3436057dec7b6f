"""Conversion forecasts: statsforecast's AutoARIMA, AutoETS, seasonal naive and MSTL with an
XGBoost member on lags and calendar features, combined by a rule learnt from rolling-origin
backtests, with intervals calibrated (conformal, per horizon step) on those backtests."""

from ssmas.campaigns.forecast.engine import (
    Evaluation,
    ForecastResult,
    evaluate_series,
    forecast_series,
)
from ssmas.campaigns.forecast.series import (
    Series,
    SeriesError,
    prepare_series,
    read_series_csv,
)

__all__ = [
    "Evaluation",
    "ForecastResult",
    "Series",
    "SeriesError",
    "evaluate_series",
    "forecast_series",
    "prepare_series",
    "read_series_csv",
]
