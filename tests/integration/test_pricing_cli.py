"""``ssmas pricing`` commands on a real lake and registry; bad input exits 2 with one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.cli import app
from ssmas.settings import Settings, use_settings

from .pricing_support import START, admin_key, clean_lake, fresh_registry

pytestmark = pytest.mark.slow
FROM, TO = START.isoformat(), (START + timedelta(days=2)).isoformat()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_lake(tmp_path_factory.getbasetemp())


@pytest.fixture()
def data_dir(tmp_path: Path) -> Iterator[Path]:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    fresh_registry(tmp_path.parent, settings)
    with use_settings(settings):  # what the commands read
        yield settings.data_dir


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["pricing", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--lake", "{lake}", "--from", "2026-3-x", "--to", TO], "bad --from"),
        (["train", "--lake", "{lake}", "--from", TO, "--to", FROM], "before"),
        (["train", "--lake", "{missing}", "--from", FROM, "--to", TO], "no lake"),
        (
            ["train", "--lake", "{lake}", "--from", FROM, "--to", TO, "--train-fraction", "0"],
            "train fraction",
        ),
        (
            [
                "simulate-floors",
                "--lake",
                "{lake}",
                "--from",
                FROM,
                "--to",
                TO,
                "--control-share",
                "1.5",
            ],
            "control-share",
        ),
        (
            ["simulate-floors", "--lake", "{lake}", "--from", TO, "--to", TO, "--version", "1"],
            "version",
        ),
        (
            ["simulate-floors", "--lake", "{lake}", "--from", FROM, "--to", FROM, "--rounds", "5"],
            "at least 3 days",
        ),
        (["promote", "7"], "--approve"),
        (["promote", "7", "--approve"], "api-key"),
        (["promote", "7", "--approve", "--api-key", "ssmas_x_y"], "unknown"),
        (["promote", "7", "--online"], "no version"),
        (["rollback"], "api-key"),
        (["drift", "--lake", "{lake}", "--day", TO], "champion"),
        (["drift", "--lake", "{lake}", "--day", "yesterday"], "bad --day"),
        (["retrain", "--lake", "{missing}"], "no impressions"),
        (["retrain", "--lake", "{lake}", "--min-improvement", "2"], "min-improvement"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, lake: Path, data_dir: Path, tmp_path: Path
) -> None:
    argv = [a.format(lake=lake, missing=tmp_path / "missing") for a in args]
    code, _, stderr = run(*argv)
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], stderr
    assert "Traceback" not in stderr


def test_train_list_promote_rollback_drift_and_floors(lake: Path, data_dir: Path) -> None:
    code, out, err = run("train", "--lake", str(lake), "--from", FROM, "--to", TO, "--rounds", "30")
    assert code == 0, err
    assert "rmse_ratio_vs_segment_baseline" in out and "v1 as champion" in out
    code, out, err = run("train", "--lake", str(lake), "--from", FROM, "--to", TO, "--rounds", "5")
    assert code == 0 and "v2 as challenger" in out, err

    code, out, _ = run("models")
    assert code == 0 and "champion" in out and "challenger" in out

    key = admin_key(Settings(profile="test", data_dir=data_dir))
    code, out, _ = run("promote", "--online")
    assert code == 0 and "no_challenger" not in out and "collecting" in out  # no live outcomes
    reader = admin_key(Settings(profile="test", data_dir=data_dir), ("pricing:read",))
    code, _, err = run("promote", "2", "--approve", "--api-key", reader)
    assert code == 2 and "does not grant pricing:admin" in err
    code, out, err = run("promote", "2", "--approve", "--api-key", key, "--reason", "canary ok")
    assert code == 0, err
    # the default notifier (no SSMAS_PRICING_ALERT_URLS) is the log: its line comes first
    assert out.strip().splitlines()[-1].startswith("pricing-cpm v2 is now champion (approved by")
    assert "v1 is champion again" in run("rollback", "--api-key", key)[1]

    code, out, err = run("drift", "--lake", str(lake), "--day", TO, "--rows", "2000")
    assert code == 0, err
    assert "domain_cpm_te" in out and "global score" in out and "OK" in out

    code, out, err = run(
        "simulate-floors", "--lake", str(lake), "--from", FROM, "--to", TO,
        "--version", "champion", "--boot", "200",
    )  # fmt: skip
    assert code == 0, err
    assert all(word in out for word in ("static", "seed", "tuned", "Control share"))
    floorsim = data_dir / "pricing" / "floorsim"
    assert (floorsim / f"{TO}.png").exists() and (floorsim / "latest.json").exists()


def test_simulate_floors_without_a_lake_exits_2_and_says_what_to_run(data_dir: Path) -> None:
    code, _, stderr = run("simulate-floors")
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no lake"), stderr
    assert "ssmas demo" in lines[0] and "--lake" in lines[0]
    assert "Traceback" not in stderr


def test_simulate_floors_defaults_to_the_demo_lake_and_its_last_three_days(
    lake: Path, data_dir: Path
) -> None:
    # Where `ssmas demo` writes its simulated history (pricing.demo_model.demo_lake_dir).
    demo_lake = data_dir / "pricing" / "demo-lake"
    demo_lake.parent.mkdir(parents=True, exist_ok=True)
    demo_lake.symlink_to(lake, target_is_directory=True)
    code, out, err = run("simulate-floors", "--rounds", "5", "--boot", "100")
    assert code == 0, err
    assert "tuned" in out
    # The held-out day is the lake's last one, trained on the two before it.
    assert (data_dir / "pricing" / "floorsim" / f"{TO}.json").exists()


def test_retrain_and_online_promotion_wait_for_the_process_holding_the_lease(
    lake: Path, data_dir: Path
) -> None:
    from ssmas.core.db import make_engine, make_session_factory
    from ssmas.core.leases import LeaseStore
    from ssmas.core.platform import build_platform
    from ssmas.pricing.lifecycle.retraining import LEADER_LEASE
    from ssmas.settings import get_settings

    build_platform(get_settings()).close()  # the tables
    engine = make_engine(get_settings().resolved_database_url)
    store = LeaseStore(make_session_factory(engine))
    try:
        assert store.take([LEADER_LEASE], "worker-host-4242", 600.0)  # a worker is retraining
        for args in (["retrain", "--lake", str(lake), "--force"], ["promote", "--online"]):
            code, _, stderr = run(*args)
            assert code == 2, stderr
            assert "worker-host-4242" in stderr and "retraining lease" in stderr
        store.release([LEADER_LEASE], "worker-host-4242")
        code, _, stderr = run("retrain", "--lake", str(lake), "--rounds", "5")
        assert code == 0, stderr  # the lease is free: the command runs (and gives it back)
        assert store.live(LEADER_LEASE) == {}
    finally:
        engine.dispose()
