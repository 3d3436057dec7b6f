"""Fixtures shared by the assistant channel tests (webhook, pipeline, media, batches, console).

``channel``: a platform on the test's settings with its assistant runtime and the Graph API fake
served over real HTTP (``open_channel``), closed after the test. ``client``: a ``TestClient`` of
the platform's app. ``deliver(client, body)``: POST a signed webhook delivery and require 200.

Registered for the integration tests by ``tests/integration/conftest.py``; a module whose
channel needs something else (another clock) keeps its own ``channel`` fixture, which takes
precedence over this one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import Channel, open_channel, signature

WEBHOOK_URL = "/whatsapp/webhook"


@pytest.fixture()
def channel(settings: Settings) -> Iterator[Channel]:
    with open_channel(settings) as opened:
        yield opened


@pytest.fixture()
def client(channel: Channel) -> Iterator[TestClient]:
    with TestClient(create_app(channel.platform)) as test_client:
        yield test_client


def deliver(client: TestClient, body: bytes) -> None:
    """POST ``body`` to the webhook with a valid signature; it must be accepted."""
    response = client.post(
        WEBHOOK_URL, content=body, headers={"x-hub-signature-256": signature(body)}
    )
    assert response.status_code == 200, response.text
