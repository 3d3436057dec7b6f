"""Which members a series gets, by rule, and the naive members against statsforecast's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ssmas.campaigns.forecast.members import SeasonalNaiveMember, choose_members, long_season_lag


def names(n: int, seasons: tuple[int, ...], horizon: int = 30, **kwargs: bool) -> list[str]:
    return [member.name for member in choose_members(n, seasons, horizon=horizon, **kwargs)[0]]


def test_daily_series_gets_every_member_and_the_yearly_naive_only_far_ahead() -> None:
    assert names(2000, (7, 365)) == ["SeasonalNaive", "AutoETS", "AutoARIMA", "MSTL", "XGBoost"]
    far = names(2000, (7, 365), horizon=120)
    assert "SeasonalNaive364" in far  # 52 weeks back: the same weekday last year
    assert long_season_lag((24, 168)) == 168 and long_season_lag((12,)) is None


def test_short_series_fall_back_to_simpler_members_and_say_why() -> None:
    members, notes = choose_members(8, (), horizon=3)
    assert [m.name for m in members] == ["Naive"]
    assert any("too short" in note for note in notes)
    assert names(40, (7,), with_gbm=True) == ["SeasonalNaive", "AutoETS", "AutoARIMA", "MSTL"]
    assert names(40, (7,), with_arima=False, with_gbm=False) == [
        "SeasonalNaive",
        "AutoETS",
        "MSTL",
    ]


def test_seasonal_naive_matches_statsforecast() -> None:
    from statsforecast.models import SeasonalNaive

    y = np.random.default_rng(0).normal(size=50)
    ds = pd.date_range("2024-01-01", periods=50)
    ours = SeasonalNaiveMember(7).forecast(y, ds, 17, "D")
    theirs = SeasonalNaive(season_length=7).forecast(y=y, h=17)["mean"]
    np.testing.assert_allclose(ours, theirs)
