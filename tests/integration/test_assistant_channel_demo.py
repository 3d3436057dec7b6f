"""The demo's simulated customers through the real webhook, worker loop and Graph API fake."""

from __future__ import annotations

import random
import threading
import time

import pytest
import sqlalchemy as sa

from ssmas.assistant.demo_customers import SCRIPT, run_demo_customers
from ssmas.assistant.demo_stream import ANGRY, StreamStats, conversation, keep_customers_coming
from ssmas.assistant.tables import Handoff
from ssmas.assistant.whatsapp.graph_fake import serve_in_thread
from ssmas.assistant.workers import assistant_subscriptions
from ssmas.bootstrap import create_app
from ssmas.core.db import UnitOfWork
from ssmas.core.worker import run_worker
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import open_channel


@pytest.mark.slow
def test_demo_customers_all_get_answers_and_one_escalates(settings: Settings) -> None:
    with open_channel(settings) as channel:
        api = serve_in_thread(create_app(channel.platform))
        stop = threading.Event()
        subs = assistant_subscriptions(channel.platform, runtime=channel.runtime)
        worker = threading.Thread(
            target=run_worker,
            args=(channel.platform.bus, subs, stop),
            kwargs={"idle_sleep_s": 0.01},
        )
        worker.start()
        try:
            report = run_demo_customers(api.url, channel.fake.url, reply_timeout_s=30)
        finally:
            stop.set()
            worker.join(10)
            api.stop()
        assert report.missing == []
        assert (report.sent, report.replies) == (len(SCRIPT), len(SCRIPT))
        receipt = [t for t in report.transcript if t[1] == "Foto del ticket de compra"]
        assert receipt and receipt[0][2].startswith("[es]")
        with UnitOfWork(channel.platform.session_factory) as uow:
            assert len(uow.session.scalars(sa.select(Handoff)).all()) == 1


def test_conversations_are_varied_and_realistic() -> None:
    rng = random.Random(7)
    talks = [conversation(rng) for _ in range(300)]
    assert all(1 <= len(t) <= 4 and len({s.phone for s in t}) == 1 for t in talks)
    phones = {t[0].phone for t in talks}
    assert len(phones) > 250 and all(p.isdigit() and len(p) == 12 for p in phones)
    texts = [s.text for t in talks for s in t]
    assert any(t in ANGRY["es"] + ANGRY["en"] for t in texts)  # now and then an angry one
    assert any(s.media for t in talks for s in t)
    assert {s.phone[:2] for t in talks for s in t} >= {"52", "34", "14", "44"}


@pytest.mark.slow
def test_customers_keep_coming_until_the_demo_stops(settings: Settings) -> None:
    with open_channel(settings) as channel:
        api = serve_in_thread(create_app(channel.platform))
        stop = threading.Event()
        subs = assistant_subscriptions(channel.platform, runtime=channel.runtime)
        worker = threading.Thread(
            target=run_worker,
            args=(channel.platform.bus, subs, stop),
            kwargs={"idle_sleep_s": 0.01},
        )
        worker.start()
        stats: list[StreamStats] = []
        stream = threading.Thread(
            target=lambda: stats.append(
                keep_customers_coming(api.url, channel.fake.url, stop, pace_s=0.2, seed=3)
            )
        )
        try:
            stream.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(channel.fake.state.sent) < 8:
                time.sleep(0.2)
        finally:
            stop.set()
            stream.join(10)
            worker.join(10)
            api.stop()
        assert not stream.is_alive()  # it stops with the demo
        [sent] = stats
        assert sent.customers >= 4 and sent.messages >= 8 and sent.failures == 0
        assert len(channel.fake.state.sent) >= 8  # the bot answers them
