"""Every statement the assistant's live path runs on SQLite finds its rows through an index.

A round once looked customers up with ``(business_id, phone_index) IN (VALUES ...)``, which
SQLite answers by scanning the whole conversations table: 40 ms a round at 200,000
conversations and growing, so the sustained benchmark's backlog grew with the table. This test
records the statements a real round runs (new and returning customers, a repeated delivery,
replies sent), asks SQLite for each one's plan, and fails on a full scan of a table that
grows with the traffic.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.integration.assistant_channel_support import Channel, text_delivery
from tests.integration.assistant_fixtures import deliver

# Tables that grow with the messages (a scan of one of these costs more every day)
GROWING = (
    "assistant_conversations",
    "assistant_messages",
    "assistant_delivery_status",
    "assistant_handoffs",
    "assistant_csat",
)


def _recorded(channel: Channel) -> tuple[list[tuple[str, Any]], Any]:
    seen: list[tuple[str, Any]] = []

    def record(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if not many and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, params))

    engine = channel.platform.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    return seen, record


def full_scans(engine: sa.Engine, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """``{statement: [plan lines that scan a growing table]}`` (SQLite's EXPLAIN QUERY PLAN)."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for statement, params in dict.fromkeys(
            (s, tuple(p) if isinstance(p, list) else p) for s, p in statements
        ):
            plan = raw.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
            bad = [
                row[3]
                for row in plan
                if row[3].startswith("SCAN ") and row[3].split()[1] in GROWING
            ]
            if bad:
                found[statement] = bad
    return found


def test_a_round_reads_every_growing_table_through_an_index(
    client: TestClient, channel: Channel
) -> None:
    assert channel.platform.engine.dialect.name == "sqlite"
    deliver(client, text_delivery("16505552001", "hello", "wamid.q0"))
    channel.drain()  # a returning customer below, beside new ones
    seen, record = _recorded(channel)
    try:
        deliver(client, text_delivery("16505552001", "where is my order", "wamid.q1"))
        for n in range(3):
            deliver(client, text_delivery(f"1650555210{n}", f"hola {n}", f"wamid.q2{n}"))
        deliver(client, text_delivery("16505552001", "where is my order", "wamid.q1"))
        channel.drain()
    finally:
        sa.event.remove(channel.platform.engine, "before_cursor_execute", record)
    assert len(channel.fake.state.sent_to("16505552001")) == 2
    assert any("assistant_conversations" in s for s, _ in seen)  # the lookup was recorded
    assert full_scans(channel.platform.engine, seen) == {}
