"""``ssmas adops nab`` through Typer's runner: scores, thresholds out and back in, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ssmas.adops.commands import adops_app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
NAB = next(p / "shared" / "data" / "nab" for p in ROOT.parents if (p / "shared").is_dir())


def write_corpus(root: Path) -> tuple[Path, Path]:
    """Two families: two files with an outage each (labelled), one quiet file."""
    rng = np.random.default_rng(2)
    stamps = pd.date_range("2026-01-01", periods=2000, freq="5min")
    windows: dict[str, list[list[str]]] = {}
    for family, name, drop in [
        ("famA", "a1.csv", 1500),
        ("famA", "a2.csv", 1200),
        ("famB", "b1.csv", None),
    ]:
        values = 100 + rng.normal(0, 2, len(stamps))
        spans = []
        if drop is not None:
            values[drop : drop + 40] -= 40
            spans = [[str(stamps[drop - 50]), str(stamps[drop + 50])]]
        (root / "data" / family).mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame({"timestamp": stamps, "value": values})
        frame.to_csv(root / "data" / family / name, index=False)
        windows[f"{family}/{name}"] = spans
    labels = root / "windows.json"
    labels.write_text(json.dumps(windows))
    return root / "data", labels


def nab(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(adops_app, ["nab", *map(str, args)])
    return result.exit_code, result.output


def test_scores_writes_thresholds_and_scores_again_with_them(tmp_path: Path) -> None:
    data, labels = write_corpus(tmp_path)
    thresholds, report = tmp_path / "thresholds.json", tmp_path / "report.json"
    code, output = nab("--data", data, "--labels", labels, "--write-thresholds", thresholds,
                       "--out", report)  # fmt: skip
    assert code == 0, output
    assert "famA" in output and "famB" in output and "reward_low_FN_rate" in output
    body = json.loads(report.read_text())
    standard = body["profiles"]["standard"]
    assert body["files"] == 3 and body["points"] == 6000 and standard["swept"] is True
    # both outages found at once, nothing else: 2 windows hit near their middle, no FP
    assert standard["corpus"]["fp"] == 0 and standard["corpus"]["windows"] == 2
    assert standard["corpus"]["score"] > 80
    assert standard["families"]["famB"]["score"] is None  # no windows: nothing to normalise
    chosen = json.loads(thresholds.read_text())["profiles"]
    assert chosen["standard"]["threshold"] == standard["threshold"]

    again = tmp_path / "again.json"
    code, output = nab("--data", data, "--labels", labels, "--thresholds", thresholds,
                       "--out", again)  # fmt: skip
    assert code == 0, output
    rescored = json.loads(again.read_text())["profiles"]["standard"]
    assert rescored["swept"] is False and rescored["corpus"] == standard["corpus"]


def test_thresholds_chosen_elsewhere_change_the_score(tmp_path: Path) -> None:
    data, labels = write_corpus(tmp_path)
    thresholds = tmp_path / "t.json"
    # a threshold above every score: both windows missed, so the score is the null detector's 0
    names = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
    profiles = {p: {"threshold": 1.5} for p in names}
    thresholds.write_text(json.dumps({"profiles": profiles}))
    report = tmp_path / "r.json"
    code, output = nab("--data", data, "--labels", labels, "--thresholds", thresholds,
                       "--out", report)  # fmt: skip
    assert code == 0, output
    corpus = json.loads(report.read_text())["profiles"]["standard"]["corpus"]
    assert corpus["score"] == pytest.approx(0.0) and corpus["tp"] == 0


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("no-data", "data folder"),
        ("labels-not-json", "is not JSON"),
        ("file-not-labelled", "has no entry in the labels file"),
        ("bad-csv", "expected the columns timestamp,value"),
        ("thresholds-missing-profile", "no threshold for the profile(s) reward_low_FN_rate"),
        ("thresholds-absent", "thresholds file"),
        ("window-not-a-row", "is not a row of the file"),
        ("thresholds-of-another-config", "chosen for another detector configuration"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, breakage: str, message: str) -> None:
    data, labels = write_corpus(tmp_path)
    extra: list[str | Path] = []
    if breakage == "no-data":
        data = tmp_path / "missing"
    elif breakage == "labels-not-json":
        labels.write_text("{not json")
    elif breakage == "file-not-labelled":
        (data / "famB" / "b2.csv").write_text("timestamp,value\n2026-01-01 00:00:00,1\n")
    elif breakage == "bad-csv":
        (data / "famB" / "b1.csv").write_text("time,val\n1,2\n")
    elif breakage == "thresholds-missing-profile":
        partial = tmp_path / "t.json"
        two = {"standard": {"threshold": 0.5}, "reward_low_FP_rate": {"threshold": 0.5}}
        partial.write_text(json.dumps({"profiles": two}))
        extra = ["--thresholds", partial]
    elif breakage == "thresholds-absent":
        extra = ["--thresholds", tmp_path / "nope.json"]
    elif breakage == "thresholds-of-another-config":
        other = tmp_path / "other.json"
        body = {"config": {"scales": [8]}, "profiles": {"standard": {"threshold": 0.5}}}
        other.write_text(json.dumps(body))
        extra = ["--thresholds", other]
    elif breakage == "window-not-a-row":
        body = json.loads(labels.read_text())
        body["famA/a1.csv"] = [["2026-01-01 00:01:00", "2026-01-01 01:00:00"]]
        labels.write_text(json.dumps(body))
    code, output = nab("--data", data, "--labels", labels, *extra)
    assert code == 2
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_the_shared_nab_corpus_round_trips_its_thresholds(tmp_path: Path) -> None:
    thresholds, report = tmp_path / "t.json", tmp_path / "r.json"
    labels = NAB / "labels" / "combined_windows.json"
    code, output = nab("--data", NAB / "data", "--labels", labels,
                       "--profiles", NAB / "config" / "profiles.json",
                       "--write-thresholds", thresholds, "--out", report)  # fmt: skip
    assert code == 0, output
    body = json.loads(report.read_text())
    assert body["files"] == 25 and body["points"] == 129_577
    scores = {name: p["corpus"]["score"] for name, p in body["profiles"].items()}
    # the published detectors on these families: Windowed Gaussian 30.0, CAD-OSE 64.0
    assert scores["standard"] > 60
    assert scores["reward_low_FN_rate"] > scores["standard"] > scores["reward_low_FP_rate"]
    again = tmp_path / "again.json"
    code, _ = nab("--data", NAB / "data", "--labels", labels, "--thresholds", thresholds,
                  "--out", again)  # fmt: skip
    assert code == 0
    rescored = json.loads(again.read_text())["profiles"]
    assert {n: p["corpus"]["score"] for n, p in rescored.items()} == scores
