"""Configuration goes through ``ssmas.settings`` only: no other module of ``src/ssmas`` reads or
writes the process environment, defines a second ``BaseSettings``, or builds ``Settings()``
from the environment itself (it takes the ``Settings`` it is given, or ``get_settings()``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "src" / "ssmas"
SETTINGS_MODULE = PACKAGE / "settings.py"
ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def violations(source: str) -> list[str]:
    """What in ``source`` bypasses the settings module, one entry per use, with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            found.append(f"{line}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "pydantic_settings"):
            found += [
                f"{line}: from {node.module} import {alias.name}"
                for alias in node.names
                if node.module == "pydantic_settings" or alias.name in ENVIRONMENT
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"{line}: import {alias.name}"
                for alias in node.names
                if alias.name == "pydantic_settings"
            ]
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name == "BaseSettings":
                found.append(f"{line}: BaseSettings")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Settings"
            and not node.args
            and not node.keywords
        ):
            found.append(f"{line}: Settings() reads the environment")
    return found


def test_only_the_settings_module_touches_the_environment() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != SETTINGS_MODULE and (found := violations(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "read configuration through ssmas.settings (Settings, get_settings)"


@pytest.mark.parametrize(
    "source",
    [
        "import os\nx = os.environ['SSMAS_X']",
        "import os\nx = os.environ.get('SSMAS_X')",
        "import os\nos.environ.setdefault('X', '1')",
        "import os\nx = os.getenv('SSMAS_X')",
        "from os import environ",
        "from os import getenv as g",
        "from pydantic_settings import BaseSettings",
        "import pydantic_settings",
        "import pydantic_settings as ps\nclass C(ps.BaseSettings): ...",
        "from ssmas.settings import Settings\ns = Settings()",
    ],
)
def test_the_check_catches_each_way_round(source: str) -> None:
    assert violations(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.getpid()\nos.chmod('f', 0o600)",
        "from ssmas.settings import Settings\ns = Settings(profile='test')",
        "settings.environ_name = 1",
        "from os import path",
    ],
)
def test_the_check_leaves_other_code_alone(source: str) -> None:
    assert violations(source) == []
