"""``ssmas pricing train --engine dask``: trained through Dask (a local cluster, or a scheduler
named by address) and registered like any other model; bad engine input exits 2 with one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.cli import app
from ssmas.core.registry import registry_from_settings
from ssmas.pricing.model.distributed import local_cluster
from ssmas.settings import Settings, use_settings

from .pricing_support import START, clean_lake, fresh_registry

pytestmark = pytest.mark.slow
FROM, TO = START.isoformat(), (START + timedelta(days=2)).isoformat()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_lake(tmp_path_factory.getbasetemp())


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    fresh_registry(tmp_path.parent, settings)
    with use_settings(settings):  # what the commands read
        yield settings


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["pricing", *args])
    return result.exit_code, result.stdout, result.stderr


def test_dask_training_registers_on_a_local_cluster_then_on_a_scheduler(
    lake: Path, settings: Settings
) -> None:
    base = ("train", "--lake", str(lake), "--from", FROM, "--to", TO, "--rounds", "20")
    code, out, err = run(*base, "--engine", "dask", "--workers", "2")
    assert code == 0, err
    assert "dask: local cluster, 2 workers" in out and "test_rmse" in out
    assert "registered pricing-cpm v1 as champion" in out

    cluster, client = local_cluster(1, processes=False)
    try:
        address = cluster.scheduler_address
        code, out, err = run(*base, "--engine", "dask", "--scheduler", address)
        assert code == 0, err
        assert address in out and "registered pricing-cpm v2 as challenger" in out
    finally:
        client.close()
        cluster.close()

    registry = registry_from_settings(settings)
    versions = {v.version: v for v in registry.list_versions("pricing-cpm")}
    assert set(versions) == {1, 2}
    for info in versions.values():
        assert info.metrics["train_rows"] > 0 and 0 < info.metrics["test_rmse"] < 10
        assert 0.5 <= info.metrics["interval80_coverage"] <= 1.0
    assert registry.get_version_by_alias("pricing-cpm", "champion").version == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "spark"], "bad --engine 'spark'"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --engine dask"),
        (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"], "Timed out"),
    ],
)
def test_bad_engine_input_exits_2_with_one_line(
    lake: Path, settings: Settings, extra: list[str], message: str
) -> None:
    code, out, err = run("train", "--lake", str(lake), "--from", FROM, "--to", TO, *extra)
    assert code == 2, out
    assert message in err and len(err.strip().splitlines()) == 1, err
