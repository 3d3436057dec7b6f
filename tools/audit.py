"""``make audit``: pip-audit of the installed environment, when a vulnerability database answers.

pip-audit asks PyPI's JSON API (``--vulnerability-service pypi``) or OSV for the advisories of
each installed package. Where neither answers (an offline machine, a mirror without the JSON
API), this says so in one line and exits 0: nothing was checked, and the lower bounds in
pyproject.toml (kept at or above the fixed versions of known CVEs, see
``tests/unit/test_dependency_bounds.py``) are what stands. Otherwise it runs pip-audit and
exits with its code (1 when a vulnerability is found).

    .venv/bin/python tools/audit.py [--service pypi|osv] [pip-audit options...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

# A package version with a known advisory: a database that answers lists it.
_PROBE_PACKAGE, _PROBE_VERSION = "jinja2", "3.1.2"
PROBES = {
    "pypi": (
        f"https://pypi.org/pypi/{_PROBE_PACKAGE}/{_PROBE_VERSION}/json",
        None,
        "vulnerabilities",
    ),
    "osv": (
        "https://api.osv.dev/v1/query",
        {"package": {"name": _PROBE_PACKAGE, "ecosystem": "PyPI"}, "version": _PROBE_VERSION},
        "vulns",
    ),
}
TIMEOUT_S = 10.0


def reachable(service: str) -> bool:
    """Whether ``service`` answers a query with a list of advisories."""
    url, body, field = PROBES[service]
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return isinstance(json.load(answer).get(field), list)
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=sorted(PROBES), help="default: the first that answers")
    args, rest = parser.parse_known_args(argv)
    services = [args.service] if args.service else ["pypi", "osv"]
    service = next((s for s in services if reachable(s)), None)
    if service is None:
        print(
            f"audit skipped: no vulnerability database reachable ({', '.join(services)}); "
            "pyproject.toml's lower bounds stay above the fixed versions of known CVEs"
        )
        return 0
    pip_audit = Path(sys.executable).with_name("pip-audit")
    command = [str(pip_audit), "--vulnerability-service", service, "--skip-editable", *rest]
    print(f"audit: pip-audit against {service}", flush=True)
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
