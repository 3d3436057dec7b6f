"""The router's batch feeds every text partition a full round in one step.

It shares its worker's loop with that worker's text rounds; when it routed 200 messages a step,
the other worker's partitions went hungry while the router's own queue grew (49,665 waiting at
500 messages/s in the sustained benchmark). Its batch is now two text batches for every
partition, so one step leaves each partition at least one full batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ssmas.assistant.events import TOPIC_INBOUND, TOPIC_TEXT, seal_bytes
from ssmas.assistant.workers import ROUTER_BATCH_MIN, TEXT_BATCH, assistant_subscriptions
from ssmas.core.worker import WorkerStats, drain_once, partition_topic
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import Channel, open_channel, text_delivery


@pytest.fixture()
def four_partitions(settings: Settings) -> Iterator[Channel]:
    with open_channel(settings, text_partitions=4) as running:
        yield running


def test_one_routing_step_leaves_every_text_partition_a_full_batch(
    four_partitions: Channel,
) -> None:
    channel = four_partitions
    subs = {s.group: s for s in assistant_subscriptions(channel.platform, runtime=channel.runtime)}
    router = subs["assistant-router"]
    assert router.batch_size == max(ROUTER_BATCH_MIN, 2 * 4 * TEXT_BATCH) == 800
    cipher, bus, now = channel.runtime.cipher, channel.platform.bus, datetime.now(UTC)
    items = [
        (
            f"wamid.r{c}",
            seal_bytes(cipher, text_delivery(f"346{c:08d}", "hola", f"wamid.r{c}", at=now)),
        )
        for c in range(router.batch_size)
    ]
    bus.publish_batch(TOPIC_INBOUND, items)
    assert drain_once(bus, [router], "test", WorkerStats()) == router.batch_size  # one step
    per_partition = [
        len(bus.consume(partition_topic(TOPIC_TEXT, k), "count", "test", max_messages=10_000))
        for k in range(4)
    ]
    assert sum(per_partition) == router.batch_size
    assert min(per_partition) >= TEXT_BATCH, per_partition


def test_the_router_batch_has_a_floor_with_one_partition(settings: Settings) -> None:
    with open_channel(settings, text_partitions=1) as channel:
        subs = assistant_subscriptions(channel.platform, runtime=channel.runtime)
        (router,) = [s for s in subs if s.group == "assistant-router"]
        assert router.batch_size == ROUTER_BATCH_MIN == 2 * TEXT_BATCH
