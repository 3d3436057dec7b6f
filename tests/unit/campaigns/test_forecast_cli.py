"""``campaigns forecast`` and ``campaigns backtest`` through Typer: the CSV they write, the
summary on stderr, and one-line refusals with exit code 2."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ssmas.campaigns.commands import campaigns_app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(campaigns_app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def daily_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(5)
    n = 150
    t = np.arange(n)
    y = 50 + 0.1 * t + 8 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, n)
    table = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="D"), "y": y})
    table = table.drop(index=[40, 41, 90])  # gaps
    path = tmp_path_factory.mktemp("forecast") / "daily.csv"
    table.to_csv(path, index=False)
    return path


def test_forecast_writes_ds_yhat_and_ordered_bounds(daily_csv: Path) -> None:
    code, stdout, stderr = run("forecast", "--csv", str(daily_csv), "--horizon", "10", "--fast")
    assert code == 0, stderr
    frame = pd.read_csv(StringIO(stdout), parse_dates=["ds"])
    assert list(frame.columns) == ["ds", "yhat", "yhat_lower", "yhat_upper"]
    assert list(frame["ds"]) == list(pd.date_range("2024-05-30", periods=10, freq="D"))
    assert (frame["yhat_lower"] <= frame["yhat"]).all()
    assert (frame["yhat"] <= frame["yhat_upper"]).all()
    # the weekly cycle is carried into the forecast: not a flat line
    assert frame["yhat"].std() > 2
    assert "calibrated on" in stderr and "3 missing point" in stderr


def test_forecast_to_a_file_with_another_level(daily_csv: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    args = ["forecast", "--csv", str(daily_csv), "--horizon", "5", "--fast", "--out", str(target)]
    code, stdout, stderr = run(*args, "--level", "95")
    assert code == 0, stderr
    assert stdout == ""
    wide = pd.read_csv(target)
    code, _, _ = run(*args, "--level", "50")
    narrow = pd.read_csv(target)
    assert len(wide) == 5
    assert (
        (wide["yhat_upper"] - wide["yhat_lower"]) > (narrow["yhat_upper"] - narrow["yhat_lower"])
    ).all()


def test_a_constant_series_gets_its_constant_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "flat.csv"
    pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=30), "y": 4.0}).to_csv(
        path, index=False
    )
    code, stdout, stderr = run("forecast", "--csv", str(path), "--horizon", "3")
    assert code == 0, stderr
    frame = pd.read_csv(StringIO(stdout))
    assert (frame[["yhat", "yhat_lower", "yhat_upper"]] == 4.0).all().all()
    assert "constant series" in stderr


def test_a_short_series_is_forecast_and_says_it_is_not_calibrated(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    pd.DataFrame(
        {"ds": pd.date_range("2024-01-01", periods=8), "y": [3, 5, 4, 6, 5, 7, 6, 8]}
    ).to_csv(path, index=False)
    code, stdout, stderr = run("forecast", "--csv", str(path), "--horizon", "4")
    assert code == 0, stderr
    assert len(pd.read_csv(StringIO(stdout))) == 4
    assert "not calibrated" in stderr


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("date,y\n2024-01-01,1\n", [], "missing column 'ds'"),
        ("ds,y\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n", [], "3 observed point"),
        ("ds,y\n2024-01-01,a\n", [], "non-numeric"),
        (None, [], "no such file"),
        ("ds,y\n", ["--horizon", "0"], "--horizon must be at least 1"),
        ("ds,y\n", ["--level", "100"], "--level must be between 0 and 100"),
        (
            "ds,y\n" + "".join(f"2024-01-{d:02d},{d}\n" for d in range(1, 20)),
            ["--rule", "vote"],
            "unknown ensemble rule",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, content: str | None, args: list[str], message: str
) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content)
    base = ["forecast", "--csv", str(path)]
    if "--horizon" not in args:
        base += ["--horizon", "3"]
    code, stdout, stderr = run(*base, *args)
    assert code == 2
    assert message in stderr
    assert stderr.strip().count("\n") == 0 and stdout == ""


def test_backtest_prints_mase_and_coverage(daily_csv: Path) -> None:
    args = ["backtest", "--csv", str(daily_csv), "--horizon", "7", "--step", "7", "--fast"]
    code, stdout, stderr = run(*args, "--windows", "3", "--calibration-windows", "4")
    assert code == 0, stderr
    assert "MASE vs naive (SeasonalNaive):" in stdout and "80% interval coverage" in stdout
    code, _, stderr = run(*args, "--windows", "30", "--calibration-windows", "30")
    assert code == 2 and "too few" in stderr
