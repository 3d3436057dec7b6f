"""A product for the supervisor's process tests (``tests/integration/test_ops_healing.py``).

``steady`` consumes the topic ``heal.jobs`` (group ``heal-steady``) and records each message's
``n`` once in ``<data_dir>/heal_done.db``, so a test sees what was handled across kills.
``flaky`` crashes at start while ``<data_dir>/flaky_crashes`` holds a positive number (one less
each time), then runs until stopped: a crash loop that ends when the budget is spent.

``python tests/fakes/heal_product.py ARGS...`` is ``ssmas ARGS...`` with this product added to
the composition root, so ``... worker healtest --only steady`` runs the real ``run_workers``.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

from ssmas.core.bus import Delivery
from ssmas.core.platform import Platform
from ssmas.core.product import Product, WorkerSpec
from ssmas.core.worker import Subscription, run_worker

TOPIC, GROUP = "heal.jobs", "heal-steady"

PRODUCT = Product(
    name="healtest",
    summary="Workers for the supervisor's tests.",
    workers=(
        WorkerSpec("steady", "tests.fakes.heal_product:run_steady", groups=(GROUP,)),
        WorkerSpec("flaky", "tests.fakes.heal_product:run_flaky"),
    ),
)


def done_numbers(data_dir: Path) -> set[int]:
    """The ``n`` of every message ``steady`` handled."""
    path = data_dir / "heal_done.db"
    if not path.exists():
        return set()
    with sqlite3.connect(path) as conn:
        try:
            return {row[0] for row in conn.execute("SELECT n FROM done")}
        except sqlite3.OperationalError:  # the worker has opened the file, not made the table
            return set()


def run_steady(platform: Platform, stop: threading.Event) -> None:
    conn = sqlite3.connect(
        platform.settings.data_dir / "heal_done.db", isolation_level=None, timeout=30
    )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS done (n INTEGER PRIMARY KEY)")

    def handle(delivery: Delivery) -> None:
        conn.execute("INSERT OR IGNORE INTO done VALUES (?)", (delivery.message.payload["n"],))

    try:
        run_worker(platform.bus, [Subscription(TOPIC, GROUP, handle, 20, 2.0)], stop)
    finally:
        conn.close()


def run_flaky(platform: Platform, stop: threading.Event) -> None:
    budget = platform.settings.data_dir / "flaky_crashes"
    left = int(budget.read_text()) if budget.exists() else 0
    if left > 0:
        budget.write_text(str(left - 1))
        raise RuntimeError(f"flaky crashes ({left - 1} crashes left)")
    stop.wait()


if __name__ == "__main__":
    from ssmas import bootstrap
    from ssmas.cli import main

    bootstrap.PRODUCT_MODULES += ("tests.fakes.heal_product",)
    sys.argv[0] = "ssmas"
    main()
