"""``ssmas assistant classify`` / ``train``: JSON out, and bad input exits 2 with one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.assistant.commands import assistant_app
from ssmas.settings import Settings, get_settings, use_settings


@pytest.fixture()
def runner(tmp_path: Path) -> Iterator[CliRunner]:
    settings = Settings(
        profile="test", data_dir=tmp_path / "data", shared_data=tmp_path / "no-corpora"
    )
    with use_settings(settings):  # what the commands read
        yield CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["classify", "  "], "error: TEXT is empty"),
        (["classify", "hola", "--language", "fr"], "error: --language must be es or en"),
        (["classify", "hola"], "error: no NLU model and no corpus to train one"),
        (["train", "--no-register"], "error: NLU corpus not found"),
        (["train-nlu", "--no-register"], "error: NLU corpus not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(assistant_app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_classify_prints_json(runner: CliRunner) -> None:
    from tests.integration.test_assistant_nlu import SHARED, _cut_corpora

    if not (SHARED / "intents").is_dir():
        pytest.skip(f"shared NLU corpora not found at {SHARED}")
    settings = get_settings()
    root = _cut_corpora(Path(settings.data_dir).parent / "corpora")
    with use_settings(settings.model_copy(update={"shared_data": root})):
        result = runner.invoke(
            assistant_app, ["classify", "¿Cómo configuro ads.txt en misitio.com?"]
        )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["language"] == "es" and body["intent"] == "ads_txt"
    assert set(body) >= {"intent_confidence", "out_of_scope", "sentiment", "sentiment_score"}
    assert [(e["entity"], e["text"]) for e in body["entities"]] == [("site", "misitio.com")]
