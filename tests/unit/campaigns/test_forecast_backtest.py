"""Backtest windows and members against statsforecast's own cross-validation, errors against
utilsforecast's, and the conformal intervals' coverage on residuals of known distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.forecast.backtest import Backtest, origins, run_backtest
from ssmas.campaigns.forecast.combine import Calibration, fit_ensemble, member_weights
from ssmas.campaigns.forecast.members import EtsMember, SeasonalNaiveMember
from ssmas.campaigns.forecast.series import prepare_series


def seasonal_series(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 10 + 0.02 * t + 2 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.5, n)
    return pd.DataFrame({"ds": pd.date_range("2023-01-01", periods=n, freq="D"), "y": y})


def test_windows_and_members_match_statsforecast_cross_validation() -> None:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    table = seasonal_series()
    series = prepare_series(table)
    members = [SeasonalNaiveMember(7), EtsMember(7)]
    ours = run_backtest(series, members, horizon=5, step=3, n_windows=4)
    frame = table.assign(unique_id="s")
    cv = StatsForecast(
        models=[SeasonalNaive(7), AutoETS(season_length=7)], freq="D"
    ).cross_validation(df=frame, h=5, step_size=3, n_windows=4)
    cutoffs = sorted(cv["cutoff"].unique())
    assert [series.ds[length - 1] for length in ours.train_lengths] == list(cutoffs)
    for w, cutoff in enumerate(cutoffs):
        window = cv[cv["cutoff"] == cutoff]
        np.testing.assert_allclose(ours.actual[w], window["y"].to_numpy())
        np.testing.assert_allclose(ours.member("SeasonalNaive")[w], window["SeasonalNaive"])
        np.testing.assert_allclose(ours.member("AutoETS")[w], window["AutoETS"], rtol=1e-6)


def test_mae_matches_utilsforecast_on_observed_points() -> None:
    from utilsforecast.losses import mae

    rng = np.random.default_rng(1)
    actual, forecast = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    observed = np.ones((3, 4), dtype=bool)
    backtest = Backtest(("m",), np.array([10, 14, 18]), forecast[None], actual, observed)
    frame = pd.DataFrame({"unique_id": "s", "y": actual.ravel(), "m": forecast.ravel()})
    assert backtest.mae(forecast) == pytest.approx(float(mae(frame, ["m"])["m"].iloc[0]))
    observed[0, :2] = False  # gap-filled points are never scored
    partial = Backtest(("m",), np.array([10, 14, 18]), forecast[None], actual, observed)
    assert partial.mae(forecast) == pytest.approx(np.abs(forecast - actual)[observed].mean())


def test_origins_end_at_the_last_point_and_refuse_too_many() -> None:
    np.testing.assert_array_equal(origins(100, 10, 5, 3), [80, 85, 90])
    with pytest.raises(ValueError, match="need more than"):
        origins(20, 10, 5, 3)


def test_conformal_bounds_are_the_corrected_order_statistics() -> None:
    scores = np.arange(1.0, 20.0) - 10  # 19 scaled residuals, -9 .. 9
    calibration = Calibration(scale=np.ones(3), scores=scores)
    low, high = calibration.bounds(np.zeros(3), 80)
    # split conformal with n = 19: ranks floor(20 * 0.1) = 2 and ceil(20 * 0.9) = 18
    np.testing.assert_allclose(low, scores[1])
    np.testing.assert_allclose(high, scores[17])


def test_intervals_cover_the_nominal_share_at_every_horizon_step() -> None:
    rng = np.random.default_rng(7)
    horizon = 30
    spread = np.linspace(1.0, 4.0, horizon)  # errors grow with the step
    calibration = Calibration.fit(
        rng.normal(size=(60, horizon)) * spread, np.ones((60, horizon), dtype=bool)
    )
    fresh = rng.normal(size=(4000, horizon)) * spread
    low, high = calibration.bounds(np.zeros(horizon), 80)
    inside = (fresh >= low) & (fresh <= high)
    per_step = inside.mean(axis=0)
    assert np.all(np.abs(per_step - 0.8) < 0.06), per_step
    assert high[-1] > 2.5 * high[0]  # widens with the horizon as the errors did


def test_weights_follow_backtest_error_and_auto_picks_the_better_rule() -> None:
    rng = np.random.default_rng(3)
    actual = rng.normal(size=(6, 5))
    good = actual + rng.normal(0, 0.1, size=actual.shape)
    bad = actual + rng.normal(0, 1.0, size=actual.shape)
    worse = actual + rng.normal(0, 2.0, size=actual.shape)
    backtest = Backtest(
        ("good", "bad", "worse"),
        np.arange(6) * 5 + 20,
        np.stack([good, bad, worse]),
        actual,
        np.ones_like(actual, dtype=bool),
    )
    weights = member_weights(backtest, "inverse_mae")
    maes = np.array([backtest.mae(f) for f in backtest.forecasts])
    np.testing.assert_allclose(weights, (1 / maes) / (1 / maes).sum())
    np.testing.assert_array_equal(member_weights(backtest, "best"), [1.0, 0.0, 0.0])
    ensemble = fit_ensemble(backtest, "auto")
    assert ensemble.rule_maes[ensemble.rule] == min(ensemble.rule_maes.values())
    assert ensemble.rule in {"best", "inverse_mae"}  # one accurate member beats the median
    with pytest.raises(ValueError, match="unknown ensemble rule"):
        fit_ensemble(backtest, "mode")
