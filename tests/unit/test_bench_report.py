"""The benchmarks' result writer (``benchmarks/_report.py``): a script that rewrites its file
keeps the figures another script merged into it, and says where they came from."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "_report.py"


@pytest.fixture()
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


def test_a_rewrite_keeps_merged_figures_and_their_record(
    report: ModuleType, tmp_path: Path
) -> None:
    report.write_result("nlu", {"acc": 0.9, "voice_wer": 0.5}, "first")
    report.merge_figures("nlu", {"voice_wer": 0.3, "voice_load_s": 40.0}, "voice.py")
    report.merge_figures("nlu", {"other": 1.0}, "other.py")

    report.write_result("nlu", {"acc": 0.95}, "second", keep=("voice_wer", "voice_load_s"))
    body = json.loads((tmp_path / "nlu.json").read_text())
    assert body["figures"] == {"voice_wer": 0.3, "voice_load_s": 40.0, "acc": 0.95}
    assert list(body["merged"]) == ["voice.py"]  # other.py's key was not kept: nor its record
    assert body["merged"]["voice.py"]["keys"] == ["voice_wer", "voice_load_s"]

    # a key this run measures again is its own, not the merging script's
    report.write_result("nlu", {"acc": 0.96, "voice_wer": 0.2}, "third", keep=("voice_wer",))
    body = json.loads((tmp_path / "nlu.json").read_text())
    assert body["figures"]["voice_wer"] == 0.2
    assert "merged" not in body
