"""Fixtures of the integration tests: the assistant channel ones (``channel``, ``client``).

They live in ``assistant_fixtures.py`` and are imported here so that every integration module
sees them. (``pytest_plugins`` would be the usual way, but pytest refuses it in a conftest below
the top-level one, and this directory's conftest is not top-level when the whole ``tests/``
tree is collected.)
"""

from tests.integration.assistant_fixtures import channel, client

__all__ = ["channel", "client"]
