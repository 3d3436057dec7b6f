"""Fixtures of the integration tests: the assistant channel ones (``channel``, ``client``),
and ``bus``: a fresh bus on each backend (SQLite, and Redis marked ``redis``), for tests of
what runs on every bus (a module may define its own ``bus`` instead).

They live in ``assistant_fixtures.py`` and are imported here so that every integration module
sees them. (``pytest_plugins`` would be the usual way, but pytest refuses it in a conftest below
the top-level one, and this directory's conftest is not top-level when the whole ``tests/``
tree is collected.)
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from ssmas.core.bus import Bus, open_bus
from tests.integration.assistant_fixtures import channel, client

__all__ = ["bus", "channel", "client"]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    url = (
        str(tmp_path / "bus.db")
        if request.param == "sqlite"
        else request.getfixturevalue("redis_url")
    )
    opened = open_bus(url)
    yield opened
    opened.close()
