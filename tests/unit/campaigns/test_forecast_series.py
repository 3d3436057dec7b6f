"""Reading ``ds,y`` tables into regular series: frequency, gaps, seasons, and clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.forecast.series import (
    MIN_POINTS,
    SeriesError,
    detect_frequency,
    prepare_series,
    read_series_csv,
    seasonal_periods,
)


def frame(ds: pd.DatetimeIndex | list[str], y: list[float] | np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"ds": ds, "y": y})


def test_daily_series_with_gaps_is_regularised_and_gaps_are_not_observed() -> None:
    days = pd.date_range("2024-01-01", periods=800, freq="D")
    keep = np.ones(800, dtype=bool)
    keep[[10, 11, 12, 500]] = False
    y = np.arange(800, dtype=float)
    series = prepare_series(frame(days[keep], y[keep]))
    assert series.freq == "D"
    assert len(series) == 800
    assert series.n_observed == 796
    assert not series.observed[[10, 11, 12, 500]].any()
    # linear interpolation puts a straight line's missing points back exactly
    np.testing.assert_allclose(series.y, y)
    assert series.seasons == (7, 365)
    assert any("4 missing point(s)" in note for note in series.notes)


def test_empty_values_are_gaps_and_duplicates_are_averaged() -> None:
    ds = ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    ds += ["2024-01-06", "2024-01-07"]
    y = [1.0, 2.0, 4.0, np.nan, 5.0, 6.0, 7.0, 8.0]
    series = prepare_series(frame(ds, y))
    assert series.y[1] == pytest.approx(3.0)
    assert not series.observed[2]
    assert series.y[2] == pytest.approx(4.0)  # between 3 and 5
    assert any("duplicate" in note for note in series.notes)


@pytest.mark.parametrize("freq", ["h", "15min", "D", "W-SUN", "MS", "ME", "QS"])
def test_frequency_detected_without_gaps_rebuilds_the_grid(freq: str) -> None:
    grid = pd.date_range("2020-01-01", periods=40, freq=freq)
    detected = detect_frequency(grid)
    assert pd.date_range(grid[0], periods=40, freq=detected).equals(grid)


def test_frequency_detected_with_gaps_from_the_most_common_step() -> None:
    hours = pd.date_range("2024-01-01", periods=200, freq="h").delete([5, 6, 50])
    assert detect_frequency(hours) == "h"
    months = pd.date_range("2015-01-01", periods=60, freq="MS").delete([3, 20])
    assert detect_frequency(months) == "MS"
    series = prepare_series(frame(months, np.arange(58.0)))
    assert len(series) == 60 and series.seasons == (12,)


def test_seasonal_periods_by_frequency_and_length() -> None:
    hourly = pd.date_range("2024-01-01", periods=24 * 30, freq="h")
    assert seasonal_periods("h", hourly, len(hourly)) == (24, 168)
    daily = pd.date_range("2024-01-01", periods=100, freq="D")
    assert seasonal_periods("D", daily, len(daily)) == (7,)  # a year needs two years of data
    weekly = pd.date_range("2020-01-05", periods=200, freq="W-SUN")
    assert seasonal_periods("W-SUN", weekly, len(weekly)) == (52,)
    assert seasonal_periods("W-SUN", weekly[:60], 60) == ()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"date": ["2024-01-01"], "y": [1.0]}), "missing column 'ds'"),
        (pd.DataFrame({"ds": ["2024-01-01"], "value": [1.0]}), "missing column 'y'"),
        (frame(["2024-01-01", "nope", "2024-01-03"], [1, 2, 3]), "not dates"),
        (
            frame(pd.date_range("2024-01-01", periods=6), ["1", "2", "x", "4", "5", "6"]),
            "non-numeric",
        ),
        (frame(pd.date_range("2024-01-01", periods=3), [1.0, 2.0, 3.0]), "at least"),
        (
            frame(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04 12:00", "2024-01-05"],
                [1.0, 2, 3, 4, 5],
            ),
            "regular grid",
        ),
    ],
)
def test_bad_tables_are_refused_with_one_line(table: pd.DataFrame, message: str) -> None:
    with pytest.raises(SeriesError, match=message) as caught:
        prepare_series(table)
    assert "\n" not in str(caught.value)


def test_three_points_say_how_many_are_needed() -> None:
    with pytest.raises(SeriesError, match=f"3 observed point.*at least {MIN_POINTS}"):
        prepare_series(frame(pd.date_range("2024-01-01", periods=3), [1.0, 2.0, 3.0]))


def test_unreadable_files_are_refused(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(SeriesError, match="no such file"):
        read_series_csv("/nonexistent/x.csv")
    empty = tmp_path / "empty.csv"  # type: ignore[operator]
    empty.write_text("")
    with pytest.raises(SeriesError, match="not a readable CSV"):
        read_series_csv(empty)
