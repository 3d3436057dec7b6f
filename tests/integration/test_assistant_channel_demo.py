"""The demo's simulated customers through the real webhook, worker loop and Graph API fake."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from ssmas.assistant.demo_customers import SCRIPT, run_demo_customers
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
