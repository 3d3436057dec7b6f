"""``ssmas campaigns tenant`` and ``ssmas campaigns import`` end to end on a temporary data
directory: keys printed once, a report of rejected rows, one-line errors with exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.campaigns.leads import simulated_leads_csv
from ssmas.cli import app
from ssmas.settings import Settings, use_settings


@pytest.fixture()
def runner(tmp_path: Path) -> Iterator[CliRunner]:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    settings.ensure_dirs()
    with use_settings(settings):
        yield CliRunner()


def test_tenant_and_import_commands(runner: CliRunner, tmp_path: Path) -> None:
    created = runner.invoke(app, ["campaigns", "tenant", "create", "acme-mx", "--tier", "growth"])
    assert created.exit_code == 0, created.output
    assert "ssmas_" in created.output
    listed = runner.invoke(app, ["campaigns", "tenant", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "acme-mx" in listed.output and "50,000" in listed.output
    leads = tmp_path / "leads.csv"
    leads.write_bytes(simulated_leads_csv(300, seed=5))
    imported = runner.invoke(app, ["campaigns", "import", str(leads), "--tenant", "acme-mx"])
    assert imported.exit_code == 0, imported.output
    assert "import 1 done: 300 rows" in imported.output
    assert "rows left out" in imported.output
    moved = runner.invoke(app, ["campaigns", "tenant", "set", "acme-mx", "--tier", "enterprise"])
    assert moved.exit_code == 0 and "enterprise, active" in moved.output
    bad = runner.invoke(app, ["campaigns", "tenant", "set", "acme-mx", "--status", "gone"])
    assert bad.exit_code == 2 and "status must be" in bad.output
    bill = runner.invoke(app, ["campaigns", "tenant", "invoice", "acme-mx"])
    assert bill.exit_code == 0 and "enterprise plan" in bill.output and "total" in bill.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["campaigns", "import", "{file}", "--tenant", "nobody"], "no such tenant"),
        (["campaigns", "import", "{missing}", "--tenant", "acme-mx"], "no such file"),
        (["campaigns", "tenant", "create", "UPPER"], "must be 3-64"),
        (["campaigns", "tenant", "create", "acme-mx"], "exists already"),
        (["campaigns", "tenant", "invoice", "acme-mx", "--month", "2026-13"], "YYYY-MM"),
        (["campaigns", "import", "{latin}", "--tenant", "acme-mx"], "latin-1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    assert runner.invoke(app, ["campaigns", "tenant", "create", "acme-mx"]).exit_code == 0
    good = tmp_path / "good.csv"
    good.write_text("phone\n5512345678\n")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("teléfono,nombre\n5512345678,José\n".encode("latin-1"))
    paths = {"{file}": str(good), "{missing}": str(tmp_path / "nope.csv"), "{latin}": str(latin)}
    result = runner.invoke(app, [paths.get(a, a) for a in args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
