"""``ssmas pricing import``, ``train`` on an imported lake and ``evaluate-log``, through the CLI
on an iPinYou-format sample; bad input exits 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ssmas.cli import app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["pricing", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Prices that depend on the exchange and the predicted CTR; a click that is noise."""
    root = tmp_path_factory.mktemp("ipinyou")
    rng = np.random.default_rng(3)
    n = 6000
    exchange = rng.integers(1, 4, n)
    ctr = rng.uniform(0.0001, 0.002, n)
    price = np.clip(20 + 15 * exchange + 15000 * ctr + rng.normal(0, 10, n), 0, 300).round()
    clicks = rng.integers(0, 2, n)
    rows = zip(clicks, price, ctr, exchange, strict=True)
    lines = [f"{k}\t{p:.0f}\t{c:.6f}\t{e}" for k, p, c, e in rows]
    train, test = root / "train.txt", root / "test.txt"
    train.write_text("\n".join(lines[:4800]) + "\n")
    test.write_text("\n".join([*lines[4800:], "0\t999\t0.001\t1", "x"]) + "\n")
    return train, test


def test_import_then_train_on_the_imported_lake(logs: tuple[Path, Path], tmp_path: Path) -> None:
    train, _ = logs
    lake, rejects = str(tmp_path / "lake"), str(tmp_path / "rej.json")
    code, stdout, _ = run("import", "--format", "ipinyou", str(train), "--lake", lake,
                          "--rejects", rejects)  # fmt: skip
    assert code == 0, stdout
    assert "4,800" in stdout and "lake columns it lacks" in stdout
    assert json.loads((tmp_path / "rej.json").read_text())["rows_rejected"] == 0
    code, stdout, _ = run("train", "--lake", str(tmp_path / "lake"), "--save",
                          str(tmp_path / "m.json"), "--rounds", "50")  # fmt: skip
    assert code == 0, stdout
    assert "features used: historical_ctr_avg, ad_exchange" in stdout
    assert "absent from this log" in stdout and "device_category" in stdout
    assert "rmse_ratio_vs_exchange_mean" in stdout and (tmp_path / "m.json").is_file()


def test_evaluate_log_writes_the_ratios(logs: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = logs
    out = tmp_path / "eval.json"
    code, stdout, _ = run("evaluate-log", "--format", "ipinyou", "--train", str(train),
                          "--test", str(test), "--out", str(out), "--rounds", "80")  # fmt: skip
    assert code == 0, stdout
    body = json.loads(out.read_text())
    assert body["ipinyou_rmse_ratio_vs_exchange_mean"] < 0.9
    assert body["ipinyou_rmse_ratio_vs_mean"] < body["ipinyou_rmse_ratio_vs_exchange_mean"]
    assert body["rmse_exchange_mean_baseline"] < body["rmse_mean_baseline"]
    assert body["rows_rejected"] == {str(train): 0, str(test): 2}
    assert body["test_rows"] == 1200 and "line 1201: price out of range" in stdout


def test_evaluate_log_with_a_saved_model_matches_training_in_one_go(
    logs: tuple[Path, Path], tmp_path: Path
) -> None:
    train, test = logs
    lake = tmp_path / "lake"
    assert run("import", "--format", "ipinyou", str(train), "--lake", str(lake))[0] == 0
    model = tmp_path / "m.json"
    code, _, _ = run("train", "--lake", str(lake), "--holdout", "0", "--save", str(model),
                     "--rounds", "80")  # fmt: skip
    assert code == 0
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("evaluate-log", "--format", "ipinyou", "--model", str(model), "--test",
               str(test), "--out", str(a))[0] == 0  # fmt: skip
    assert run("evaluate-log", "--format", "ipinyou", "--train", str(train), "--test",
               str(test), "--out", str(b), "--rounds", "80")[0] == 0  # fmt: skip
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["rmse"] == pytest.approx(rb["rmse"], rel=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "--format", "csv", "{train}", "--lake", "{tmp}/l"], "unknown --format"),
        (["import", "--format", "ipinyou", "{tmp}/nope.txt", "--lake", "{tmp}/l"], "no such file"),
        (["import", "--format", "ipinyou", "{bad}", "--lake", "{tmp}/l"], "no row"),
        (["evaluate-log", "--format", "ipinyou"], "exactly one of --train"),
        (["evaluate-log", "--format", "ipinyou", "--model", "{train}"], "--model needs --test"),
        (["evaluate-log", "--format", "ipinyou", "--model", "{train}", "--test", "{train}"],
         "cannot read the model"),
        (["train", "--lake", "{tmp}"], "--from and --to are required"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(
    logs: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("nothing\there\n")
    values = {"train": str(logs[0]), "tmp": str(tmp_path), "bad": str(bad)}
    code, _, stderr = run(*[a.format(**values) for a in args])
    assert code == 2
    assert stderr.strip().count("\n") == 0 and message in stderr


def test_an_openrtb_log_trains_on_its_own_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    lines = []
    for i in range(600):
        device = int(rng.choice([2, 4, 5]))
        floor = round(float(rng.uniform(0.1, 2.0)), 2)
        price = floor * 1.5 + (1.0 if device == 2 else 0.2) + float(rng.normal(0, 0.05))
        request = {"id": f"r{i}", "imp": [{"id": "1", "bidfloor": floor, "banner": {"w": 300,
                   "h": 250}}], "device": {"devicetype": device, "geo": {"country": "FRA"}},
                   "site": {"domain": f"site{i % 5}.fr"}}  # fmt: skip
        response = {"cur": "EUR", "seatbid": [{"bid": [{"impid": "1", "price": round(price, 3)}]}]}
        lines.append(json.dumps({"ts": 1717200000 + 60 * i, "request": request,
                                 "response": response}))  # fmt: skip
    log = tmp_path / "rtb.jsonl"
    log.write_text("\n".join(lines) + "\n")
    lake = tmp_path / "lake"
    code, stdout, _ = run("import", "--format", "openrtb", str(log), "--lake", str(lake))
    assert code == 0, stdout
    assert "600 rows in 10 hour partitions" in stdout
    code, stdout, _ = run("train", "--lake", str(lake), "--rounds", "100")
    assert code == 0, stdout
    used = stdout.split("features used: ")[1].split("\n")[0]
    assert {"floor_cpm", "device_category", "hour_of_day", "domain"} <= set(used.split(", "))
    absent = stdout.split("absent from this log: ")[1]
    assert "historical_ctr_avg" in absent and "ad_exchange" in absent
