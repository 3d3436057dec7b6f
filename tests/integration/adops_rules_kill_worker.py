"""The adops ``rules`` worker as a process of its own, for the SIGKILL test.

It runs the product's real worker (``run_rules_worker``) on a data directory, with an
``incident`` target of the test's own that records every call it gets (one row per call, not
idempotent on purpose, so a second alert for the same delivery shows as a second row).

``--stall at-call:K`` prints ``STALL`` and sleeps at the start of the K-th incident call (the
alert not sent yet); ``--stall after-batch:K`` once the K-th batch is archived and dispatched
(alerts sent and recorded) but before the bus has its ack. The test SIGKILLs it there. Without
``--stall`` it runs until ``--expect`` distinct events were alerted, then exits 0.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ssmas.adops.events import TargetCall, target_registry
from ssmas.adops.events.service import event_rules, run_rules_worker
from ssmas.core.bus import Delivery
from ssmas.core.platform import build_platform
from ssmas.settings import AdopsSettings, Settings


def stall() -> None:
    print("STALL", flush=True)
    time.sleep(120)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("rules")
    parser.add_argument("effects")
    parser.add_argument("--stall", default="")
    parser.add_argument("--expect", type=int, default=0)
    args = parser.parse_args()
    mode, _, at = args.stall.partition(":")
    stall_at = int(at) if at else 0

    settings = Settings(profile="test", data_dir=Path(args.data_dir)).model_copy(
        update={
            "adops": AdopsSettings(
                rules_file=Path(args.rules), dispatch_batch=5, dispatch_visibility_s=1.0
            )
        }
    )
    platform = build_platform(settings)
    # the worker thread writes, the main thread counts: one connection shared under a lock
    effects = sqlite3.connect(
        args.effects, isolation_level=None, timeout=30, check_same_thread=False
    )
    lock = threading.Lock()
    effects.execute("PRAGMA journal_mode = WAL")
    effects.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT, event_id TEXT)")
    calls = 0

    def incident(call: TargetCall) -> None:
        nonlocal calls
        calls += 1
        if mode == "at-call" and calls == stall_at:
            stall()
        with lock:
            effects.execute("INSERT INTO calls VALUES (?, ?)", (call.key, call.event["id"]))

    target_registry(platform).register("incident", incident)
    runtime = event_rules(platform)
    handle = runtime.handle_batch
    batches = 0

    def handle_then_maybe_stall(deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        nonlocal batches
        outcomes = handle(deliveries)
        batches += 1
        if mode == "after-batch" and batches == stall_at:
            stall()
        return outcomes

    runtime.handle_batch = handle_then_maybe_stall  # type: ignore[method-assign]
    stop = threading.Event()
    worker = threading.Thread(target=run_rules_worker, args=(platform, stop), daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            done = effects.execute("SELECT COUNT(DISTINCT event_id) FROM calls").fetchone()[0]
        if args.expect and done >= args.expect:
            stop.set()
            worker.join(timeout=10)
            platform.close()
            return 0
        time.sleep(0.05)
    print("gave up waiting", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
