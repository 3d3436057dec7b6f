"""The assistant's part of ``ssmas demo``: the Graph API fake plus simulated customers.

It serves the fake on the port of ``SSMAS_WHATSAPP_GRAPH_URL`` (8765 by default, so the workers'
replies reach it), waits for the API, seeds the agent workspace (teams, agents, canned
responses) on a database without teams, plays the scripted Spanish and English customers through
the real webhook, prints the transcript, then keeps new customers coming (``demo_stream``)
until the demo stops.
"""

from __future__ import annotations

import threading
from urllib.parse import urlparse

import structlog
from rich.console import Console
from rich.table import Table

from ssmas.assistant.demo_customers import run_demo_customers
from ssmas.assistant.demo_stream import keep_customers_coming
from ssmas.assistant.whatsapp.graph_fake import start_graph_fake
from ssmas.core.db import UnitOfWork, utcnow
from ssmas.core.health import wait_healthy
from ssmas.core.platform import Platform

log = structlog.get_logger("ssmas.assistant.demo")

# The first reply may wait for ``train_assistant`` (one to three minutes on 2 cores, longer
# when the machine is loaded).
REPLY_TIMEOUT_S = 360.0
CUSTOMER_PACE_S = 5.0  # about one new customer every five seconds after the script


def _seed_workspace(platform: Platform) -> None:
    """Teams, agents and canned responses, so escalations are routed and the queue page shows
    them (only on a database without teams)."""
    from ssmas.assistant.workspace import seed_demo

    with UnitOfWork(platform.session_factory) as uow:
        if seed_demo(uow.session, utcnow()):
            uow.commit()
            log.info("assistant_demo_workspace_seeded")


def run_demo(platform: Platform, stop: threading.Event) -> None:
    """Play the scripted customers, then keep new ones coming until ``stop``."""
    graph = urlparse(platform.settings.whatsapp.graph_url)
    fake = start_graph_fake(host=graph.hostname or "127.0.0.1", port=graph.port or 8765)
    try:
        api = f"http://{platform.settings.host}:{platform.settings.port}"
        if not wait_healthy(api, stop=stop, interval_s=0.25):
            return
        _seed_workspace(platform)
        report = run_demo_customers(api, fake.url, reply_timeout_s=REPLY_TIMEOUT_S)
        # Names and texts stay off the console (its output ends up in logs); the dashboard
        # shows the conversations to a signed-in user.
        table = Table(title="Assistant demo: WhatsApp customers through the real webhook")
        for column in ("customer", "message", "bot reply"):
            table.add_column(column)
        numbers: dict[str, int] = {}
        for name, said, reply in report.transcript:
            number = numbers.setdefault(name, len(numbers) + 1)
            kind = f"text, {len(said)} chars" if said else "attachment"
            table.add_row(f"#{number}", kind, f"answered, {len(reply)} chars")
        console = Console()
        console.print(table)
        console.print(f"Read them at {api}/dashboard/assistant/conversations")
        log.info(
            "assistant_demo_done",
            sent=report.sent,
            replies=report.replies,
            missing=len(report.missing),
        )
        keep_customers_coming(api, fake.url, stop, pace_s=CUSTOMER_PACE_S)
    finally:
        fake.stop()
