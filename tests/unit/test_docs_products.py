"""README, docs and the API say which products exist and which are only planned."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PLANNED = "planned (not built yet)"
# `ssmas.pricing`, `ssmas.core.api`...; not the database file `ssmas.db`.
PACKAGE = re.compile(r"`ssmas\.(?!db`)([a-z_]+)")


def built(package: str) -> bool:
    return importlib.util.find_spec(f"ssmas.{package}") is not None


def product_rows() -> dict[str, str]:
    """README's product table: package name → its row."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = PACKAGE.search(line)
        if line.startswith("|") and match:
            rows[match.group(1)] = line
    return rows


def test_the_readme_table_marks_exactly_the_missing_packages_as_planned() -> None:
    rows = product_rows()
    assert {"pricing", "assistant", "core", "exchange"} <= set(rows)
    for package, row in rows.items():
        if built(package):
            assert "planned" not in row, f"ssmas.{package} exists now: update README's table"
        else:
            assert PLANNED in row, f"ssmas.{package} does not exist: mark it {PLANNED!r}"


def test_docs_name_a_missing_package_only_as_planned() -> None:
    for doc in DOCS:
        for paragraph in doc.read_text().split("\n\n"):
            for package in set(PACKAGE.findall(paragraph)):
                if not built(package):
                    assert "planned" in paragraph, f"{doc.name}: ssmas.{package} is not built"


def test_the_api_description_marks_planned_products() -> None:
    from ssmas.bootstrap import create_app
    from ssmas.settings import Settings

    description = create_app(settings=Settings(profile="test")).description
    for product, package in (("AdOps", "adops"), ("campaigns", "campaigns")):
        if product.lower() in description.lower() and not built(package):
            assert "planned, not built yet" in description
