"""pyproject.toml keeps the packages with known CVEs at or above their fixed versions, names the
advisories beside each bound, and the installed environment satisfies those bounds."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# The packages issue 12 names, with the oldest version that fixes every advisory we cite.
AUDITED = {
    "h11": "0.16.0",
    "jinja2": "3.1.6",
    "python-multipart": "0.0.31",
    "starlette": "1.3.1",
    "requests": "2.33.0",
    "urllib3": "2.7.0",
    "cryptography": "50.0.0",
    "mlflow": "3.16.0",
}
_ADVISORY = re.compile(r"\b(GHSA(-[23456789cfghjmpqrvwx]{4}){3}|CVE-\d{4}-\d{4,})\b")


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return {Requirement(line).name.lower(): Requirement(line) for line in lines}


def _lower_bound(requirement: Requirement) -> Version | None:
    found = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(found) if found else None


@pytest.mark.parametrize(("name", "fixed"), sorted(AUDITED.items()))
def test_the_lower_bound_is_at_or_above_the_fixed_version(name: str, fixed: str) -> None:
    requirement = _requirements().get(name)
    assert requirement is not None, f"{name} has no bound in pyproject.toml"
    bound = _lower_bound(requirement)
    assert bound is not None and bound >= Version(fixed), f"{requirement} allows < {fixed}"


@pytest.mark.parametrize("name", sorted(AUDITED))
def test_the_installed_version_satisfies_the_bound(name: str) -> None:
    requirement = _requirements()[name]
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is not installed: run `make install`")
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"installed {name} {installed} does not satisfy {requirement}: run `make install`"
    )


@pytest.mark.parametrize("name", sorted(AUDITED))
def test_each_bound_names_its_advisories(name: str) -> None:
    lines = PYPROJECT.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(rf'\s*"{re.escape(name)}[><=\[]', line))
    comments = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("#"):
            break
        comments.append(line)
    assert _ADVISORY.search(" ".join(comments)), f"no advisory id in the comment above {name}"
