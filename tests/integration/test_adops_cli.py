"""``ssmas adops ingest`` and ``ssmas adops incidents``: a CSV into the stream, bad files
refused with one line and exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ssmas.adops.commands import adops_app
from ssmas.adops.runtime import stream_job
from ssmas.core.platform import build_platform
from ssmas.settings import Settings, use_settings

runner = CliRunner()


@pytest.fixture()
def env(settings: Settings) -> Iterator[Settings]:
    with use_settings(settings):
        yield settings


def test_a_csv_goes_through_the_stream_into_an_incident(env: Settings, tmp_path: Path) -> None:
    values = list(10 + np.random.default_rng(1).normal(0, 0.2, 150)) + [2.0] * 8
    lines = ["timestamp,value"] + [
        f"2024-10-22T{i // 60:02d}:{i % 60:02d}:00,{v:.4f}" for i, v in enumerate(values)
    ]
    lines[30] = "2024-10-22T00:29:00,"  # a missing value
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(adops_app, ["ingest", str(path), "--series", "orders"])
    assert result.exit_code == 0, result.output
    assert "158 points of orders accepted" in result.output
    platform = build_platform(env)
    try:
        job = stream_job(platform)
        while job.poll():
            pass
        job.checkpoint(force=True)
    finally:
        platform.close()
    listed = runner.invoke(adops_app, ["incidents"])
    assert listed.exit_code == 0 and "series orders" in listed.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,value\n1,2\n", "needs a header with timestamp and value"),
        ("timestamp,value\nyesterday,2\n", ":2: timestamp 'yesterday' is not ISO-8601"),
        ("timestamp,value\n", "no points"),
    ],
)
def test_bad_files_are_refused_with_one_line(
    env: Settings, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = runner.invoke(adops_app, ["ingest", str(path), "--series", "s"])
    assert result.exit_code == 2 and message in result.output
    missing = runner.invoke(adops_app, ["ingest", str(tmp_path / "nope.csv"), "--series", "s"])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    bad_state = runner.invoke(adops_app, ["incidents", "--state", "closed"])
    assert bad_state.exit_code == 2 and "unknown state" in bad_state.output
