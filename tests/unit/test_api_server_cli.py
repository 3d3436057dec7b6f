"""The server entry points: CLI option checking and settings handed to worker processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas import server
from ssmas.settings import Settings, export_environment

runner = CliRunner()


def test_serve_and_up_document_their_options() -> None:
    serve_help = runner.invoke(server.serve_app, ["--help"])
    assert serve_help.exit_code == 0
    for option in ("--host", "--port", "--workers"):
        assert option in serve_help.output
    up_help = runner.invoke(server.up_app, ["--help"])
    assert up_help.exit_code == 0 and "--port" in up_help.output


@pytest.mark.parametrize("args", [["--workers", "0"], ["--port", "70000"], ["--port", "eighty"]])
def test_bad_options_exit_2_without_traceback(args: list[str]) -> None:
    result = runner.invoke(server.serve_app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_serve_refuses_zero_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        server.serve(Settings(), workers=0)


def test_exported_settings_round_trip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A private copy of the environment: nothing exported here leaks into other tests.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    monkeypatch.setattr(os, "environ", environ)
    original = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "d",
        redis_url="redis://127.0.0.1:6379/3",
        cache_backend="redis",
        rate_limit_per_s=12.5,
        rate_limit_burst=30,
        log_json=False,
    )
    environ["SSMAS_LLM_BASE_URL"] = "http://stale.invalid"  # a None setting must clear it
    export_environment(original)
    assert "SSMAS_LLM_BASE_URL" not in environ
    assert environ["SSMAS_RATE_LIMIT_BURST"] == "30"
    assert Settings(_env_file=None) == original  # type: ignore[call-arg]
