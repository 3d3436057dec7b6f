"""The registry of a scale-out deployment: MLflow's tracking and registry store on PostgreSQL,
artifacts in a shared directory. A second host (its own data directory, the same shared
settings) sees and loads what the first registered."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.core.registry import registry_from_settings
from ssmas.pricing.model.bundle import MODEL_NAME, load_from_registry
from ssmas.pricing.model.training import register
from ssmas.settings import Settings
from tests.conftest import PG_ADMIN_URL
from tests.pricing_serving_support import small_model

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture()
def mlflow_pg_url() -> Iterator[str]:
    """A database of its own for MLflow (its tables and Alembic history are not ours)."""
    name = f"ssmas_mlflow_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def test_second_host_loads_what_the_first_registered(tmp_path: Path, mlflow_pg_url: str) -> None:
    shared = {"mlflow_tracking_uri": mlflow_pg_url, "mlflow_artifact_root": tmp_path / "shared"}
    first = Settings(profile="test", data_dir=tmp_path / "host-a", **shared)
    second = Settings(profile="test", data_dir=tmp_path / "host-b", **shared)
    info, alias = register(registry_from_settings(first), copy.copy(small_model(seed=3)))
    assert alias == "champion"

    other = registry_from_settings(second)
    found = other.get_version_by_alias(MODEL_NAME, "champion")
    assert found is not None and found.version == info.version
    model = load_from_registry(other, str(info.version))
    assert model.version == str(info.version)
    assert not (tmp_path / "host-b" / "mlflow.db").exists()  # nothing local on the second host
