"""Lazy package exports, so importing a package (or its ``product`` module) stays cheap.

A product package re-exports the names others build on from its ``__init__``; importing them
eagerly would load NumPy, FastAPI or the models whenever anything under the package is
imported, e.g. ``ssmas --help`` reading the product declarations. A package instead writes::

    if TYPE_CHECKING:
        from ssmas.web.nav import register_page
    __getattr__, __dir__ = lazy_exports(__name__, {"register_page": "ssmas.web.nav"})

and the submodule is imported on first access of the name (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``table`` maps each exported name to
    the module holding it, or to ``"module:attribute"`` when the name differs there."""

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(module_name), attribute or name)
        importlib.import_module(package).__dict__[name] = value  # later lookups skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted({*importlib.import_module(package).__dict__, *table})

    return __getattr__, __dir__
