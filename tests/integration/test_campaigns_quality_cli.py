"""``ssmas campaigns quality train | evaluate``: tables on stdout, one-line refusals, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.campaigns.commands import campaigns_app
from ssmas.settings import Settings, use_settings

pytestmark = pytest.mark.slow  # MLflow


@pytest.fixture()
def runner(tmp_path: Path) -> Iterator[CliRunner]:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    with use_settings(settings):
        yield CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--folds", "1"], "error: --folds: Input should be greater than or equal to 2"),
        (["train", "--leads", "10"], "error: --leads: Input should be greater than or equal to"),
        (["evaluate", "--leads", "5"], "error: --leads must be between 200 and 2000000"),
        (["evaluate"], "error: no model registry yet: run `ssmas campaigns quality train` first"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(campaigns_app, ["quality", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_train_registers_a_champion_then_evaluate_reads_it(runner: CliRunner) -> None:
    small = ["--leads", "600", "--test-leads", "800", "--folds", "2", "--rounds", "10"]
    result = runner.invoke(campaigns_app, ["quality", "train", *small])
    assert result.exit_code == 0, result.output
    assert "bootstrapped: no champion" in result.stdout
    assert "ensemble_vs_best_single" in result.stdout
    result = runner.invoke(campaigns_app, ["quality", "evaluate", "--leads", "500"])
    assert result.exit_code == 0, result.output
    assert "lead quality v1 on 500 fresh leads" in result.stdout
    assert "oracle_auc" in result.stdout
    result = runner.invoke(campaigns_app, ["quality", "evaluate", "--version", "7"])
    assert result.exit_code == 2
    assert "error: model 'campaigns-lead-quality' has no version '7'" in result.stderr
