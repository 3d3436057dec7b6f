"""Two assistant workers on one PostgreSQL and one Redis behave like one.

Each worker is a platform of its own (its own engine, bus client, cache client and runtime) on a
thread, leasing the text queue's partitions from the shared database as worker processes do. The
customers send interleaved messages in bursts; every message must be stored once, in the order
each customer sent it, each conversation's counter must be exact and each reply sent once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.assistant.events import TOPIC_INBOUND, seal_bytes
from ssmas.assistant.runtime import AssistantRuntime, build_assistant_runtime, release_runtime
from ssmas.assistant.tables import ChatMessage, Conversation
from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.assistant.whatsapp.graph_fake import RunningFake, start_graph_fake
from ssmas.assistant.workers import assistant_subscriptions
from ssmas.core.leases import LeaseStore
from ssmas.core.platform import Platform, build_platform
from ssmas.core.worker import WorkerStats, run_worker, wait_until
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import (
    RecordingNotifier,
    ScriptedBrain,
    text_delivery,
)

CUSTOMERS = 40
MESSAGES = 3


@dataclass
class Worker:
    platform: Platform
    runtime: AssistantRuntime
    stats: WorkerStats
    thread: threading.Thread


@pytest.fixture()
def fake() -> Iterator[RunningFake]:
    running = start_graph_fake()
    yield running
    running.stop()


def _settings(tmp_path: Path, name: str, pg_url: str, redis_url: str) -> Settings:
    s = Settings(
        profile="test",
        data_dir=tmp_path / name,
        # hosts of one deployment share their secrets (docs/operations.md): with a data
        # directory each, the secret written on first start would differ, and so would the PII
        # key derived from it
        secret_key="scale-out-test-secret-2b7f9c4e1d8a6035f1e2",
        database_url=pg_url,
        redis_url=redis_url,
        bus_backend="redis",
        cache_backend="redis",
    )
    s.ensure_dirs()
    return s


def test_two_workers_keep_order_and_counters(
    tmp_path: Path, pg_url: str, redis_url: str, fake: RunningFake
) -> None:
    scope = f"scale-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    wa = WhatsAppSettings(
        graph_url=fake.graph_url, recipient_rate_per_s=1000.0, retry_backoff_s=0.01
    )
    workers: list[Worker] = []
    for i in range(2):
        platform = build_platform(_settings(tmp_path, f"w{i}", pg_url, redis_url))
        runtime = build_assistant_runtime(
            platform, wa=wa, brain=ScriptedBrain(), notifier=RecordingNotifier()
        )
        stats = WorkerStats()
        subs = assistant_subscriptions(platform, runtime=runtime)
        leases = LeaseStore(platform.session_factory)
        thread = threading.Thread(
            target=run_worker,
            args=(platform.bus, subs, stop),
            kwargs={"consumer": f"w{i}", "stats": stats, "leases": leases, "scope": scope},
            daemon=True,
        )
        workers.append(Worker(platform, runtime, stats, thread))
    try:
        for w in workers:
            w.thread.start()
        store = LeaseStore(workers[0].platform.session_factory)
        # both workers hold partitions before anything is sent
        assert wait_until(lambda: len(set(store.live(f"{scope}:").values())) == 2, 15.0)
        run = uuid.uuid4().hex[:6]
        phones = [f"3460{run}{c:04d}" for c in range(CUSTOMERS)]
        cipher = workers[0].runtime.cipher
        bus = workers[0].platform.bus
        now = datetime.now(UTC)
        for m in range(MESSAGES):  # each customer's messages in bursts, interleaved
            items = [
                (
                    f"wamid.{phone}.{m}",
                    seal_bytes(
                        cipher, text_delivery(phone, f"order {m}", f"wamid.{phone}.{m}", at=now)
                    ),
                )
                for phone in phones
            ]
            bus.publish_batch(TOPIC_INBOUND, items)

        factory = workers[0].platform.session_factory
        wanted = [f"wamid.{p}.{m}" for p in phones for m in range(MESSAGES)]

        def answered() -> bool:
            with factory() as s:
                count = s.scalar(
                    sa.select(sa.func.count())
                    .select_from(ChatMessage)
                    .where(ChatMessage.direction == "out", ChatMessage.state == "sent")
                    .join(
                        inbound := sa.orm.aliased(ChatMessage),
                        ChatMessage.reply_to_id == inbound.id,
                    )
                    .where(inbound.wa_id.in_(wanted))
                )
            return count == len(wanted)

        assert wait_until(answered, 60.0)
        # a worker counts a batch once its handler returns, just after the replies it sent
        # are stored: wait for the counters rather than read them at the instant the last
        # reply lands
        assert wait_until(
            lambda: all(w.stats.by_topic.get("assistant.text", 0) > 0 for w in workers), 10.0
        )

        with factory() as s:
            rows = s.execute(
                sa.select(ChatMessage.wa_id, ChatMessage.id, ChatMessage.conversation_id)
                .where(ChatMessage.wa_id.in_(wanted))
                .order_by(ChatMessage.id)
            ).all()
            turns = dict(
                s.execute(
                    sa.select(Conversation.id, Conversation.turns).where(
                        Conversation.id.in_({r.conversation_id for r in rows})
                    )
                ).all()
            )
        assert sorted(r.wa_id for r in rows) == sorted(wanted)  # all stored, none twice
        by_conversation: dict[int, list[int]] = {}
        for r in rows:  # id order is storage order
            by_conversation.setdefault(r.conversation_id, []).append(int(r.wa_id.rsplit(".", 1)[1]))
        assert len(by_conversation) == CUSTOMERS
        assert all(seq == list(range(MESSAGES)) for seq in by_conversation.values())
        assert set(turns.values()) == {MESSAGES}
        for phone in phones:  # one reply per message, sent once
            assert len(fake.state.sent_to(phone)) == MESSAGES
    finally:
        stop.set()
        for w in workers:
            w.thread.join(timeout=30)
            release_runtime(w.platform)
            w.platform.close()
