"""One pricing worker process for the retraining-lease test: the real ``run_retrain_loop`` on the
platform its environment names, with the pass itself replaced by a line in a shared log
(``<pid> <start> <end>``, wall clock) so the test sees who ran a pass and when.

Usage: ``python retrain_leader_process.py LOG_FILE LEASE_TTL_S``; stops on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ssmas.core.platform import build_platform
from ssmas.pricing.lifecycle import retraining
from ssmas.settings import get_settings


def main() -> None:
    log, ttl = Path(sys.argv[1]), float(sys.argv[2])

    def recorded_pass(*_args: Any, **_kwargs: Any) -> SimpleNamespace:
        began = time.time()
        time.sleep(0.3)  # long enough that two overlapping passes would show
        with log.open("a") as out:
            out.write(f"{os.getpid()} {began} {time.time()}\n")
        return SimpleNamespace(outcome="recorded", reason="test pass")

    retraining.run_retrain = recorded_pass  # type: ignore[assignment]
    retraining.IDLE_WAIT_S = 0.2
    platform = build_platform(get_settings())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    try:
        retraining.run_retrain_loop(platform, stop, leader_ttl_s=ttl)
    finally:
        platform.close()


if __name__ == "__main__":
    main()
