"""Pricing's layout holds: entry points at the top, the rest in subpackages, and the exchange
reached only through what ``ssmas.exchange`` exports."""

from __future__ import annotations

import ast
from pathlib import Path

import ssmas.exchange as exchange
import ssmas.pricing as pricing

PACKAGE = Path(pricing.__file__).parent
TOP_LEVEL = {
    "__init__.py",
    "api.py",
    "api_admin.py",
    "commands.py",
    "product.py",
    "demo.py",
    "demo_model.py",
    "schemas.py",
    "variants.py",
    "web.py",
}
SUBPACKAGES = {"floors", "lifecycle", "model", "serving"}


def _exchange_imports(path: Path) -> list[tuple[str, str]]:
    """Every ``(module, name)`` a pricing module imports from the exchange."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ssmas.exchange"):
            found.extend((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(
                (alias.name, "") for alias in node.names if alias.name.startswith("ssmas.exchange.")
            )
    return found


def test_only_entry_points_and_the_contract_stay_at_the_top() -> None:
    assert {p.name for p in PACKAGE.glob("*.py")} == TOP_LEVEL
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == SUBPACKAGES


def test_pricing_uses_the_exchange_through_its_public_names_only() -> None:
    public = set(exchange.__all__)
    offending = [
        (str(path.relative_to(PACKAGE)), module, name)
        for path in sorted(PACKAGE.rglob("*.py"))
        for module, name in _exchange_imports(path)
        if module != "ssmas.exchange" or name not in public
    ]
    assert offending == []
