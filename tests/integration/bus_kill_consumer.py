"""A bus consumer process for the SIGKILL test: an idempotent handler that can stall mid-message.

The handler records each message's effect and its id in one SQLite transaction, skipping ids
already recorded, so a redelivered message changes nothing twice. With ``--stall-on K`` the K-th
delivery this process handles prints ``STALL <id>`` and sleeps (``--stall-at before-commit``
inside the open transaction, ``after-commit`` between commit and ack) until the test kills it.
Without it, the process handles messages until ``--expect`` ids are recorded, then exits 0.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time

from ssmas.core.bus import Bus, Delivery, open_bus
from ssmas.core.bus.instrumented import InstrumentedBus

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS applied (message_id TEXT NOT NULL, amount INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (message_id TEXT NOT NULL, consumer TEXT NOT NULL);
"""


def open_effects(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(SCHEMA)
    return conn


def handle(conn: sqlite3.Connection, delivery: Delivery, stall: str | None) -> None:
    message = delivery.message
    conn.execute("BEGIN IMMEDIATE")
    if conn.execute("SELECT 1 FROM processed WHERE message_id = ?", (message.id,)).fetchone():
        conn.execute("COMMIT")
        return
    conn.execute("INSERT INTO applied VALUES (?, ?)", (message.id, int(message.payload["amount"])))
    conn.execute("INSERT INTO processed VALUES (?)", (message.id,))
    if stall == "before-commit":
        print(f"STALL {message.id}", flush=True)
        time.sleep(120)
    conn.execute("COMMIT")
    if stall == "after-commit":
        print(f"STALL {message.id}", flush=True)
        time.sleep(120)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bus_url")
    parser.add_argument("topic")
    parser.add_argument("effects_db")
    parser.add_argument("--name", required=True)
    parser.add_argument("--stall-on", type=int, default=0)
    parser.add_argument("--stall-at", choices=["before-commit", "after-commit"])
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--visibility", type=float, default=0.5)
    args = parser.parse_args()
    if args.bus_url.startswith("instrumented:"):
        bus: Bus = InstrumentedBus(open_bus(args.bus_url.removeprefix("instrumented:")))
    else:
        bus = open_bus(args.bus_url)
    conn = open_effects(args.effects_db)
    handled = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        count = conn.execute("SELECT COUNT(*) FROM processed").fetchone()[0]
        if args.expect and count >= args.expect:
            return 0
        for delivery in bus.consume(
            args.topic,
            "effects",
            args.name,
            max_messages=3,
            visibility_timeout_s=args.visibility,
            wait_s=0.5,
        ):
            conn.execute("INSERT INTO seen VALUES (?, ?)", (delivery.message.id, args.name))
            handled += 1
            handle(conn, delivery, args.stall_at if handled == args.stall_on else None)
            bus.ack(delivery)
    print("gave up waiting for messages", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
