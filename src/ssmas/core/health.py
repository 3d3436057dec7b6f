"""Waiting for a server to come up: poll its ``/health`` until it answers 200.

Used wherever one process starts another and must not talk to it too early: the demo's
scenarios (the API starts beside them), end-to-end tests and benchmarks (servers in
subprocesses).
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import httpx

__all__ = ["ServerExited", "wait_healthy"]


class ServerExited(RuntimeError):
    """The server's process ended before it became healthy."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"server exited early with code {returncode}")
        self.returncode = returncode


def wait_healthy(
    base_url: str,
    *,
    timeout_s: float = 120.0,
    interval_s: float = 0.1,
    proc: subprocess.Popen[Any] | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """True once ``GET {base_url}/health`` answers 200; False on timeout or when ``stop`` is set.

    With ``proc``, raises :class:`ServerExited` as soon as that process has ended.
    """
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise ServerExited(proc.returncode)
            if stop is not None and stop.is_set():
                return False
            try:
                if client.get(f"{base_url}/health").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if stop is not None:
                stop.wait(interval_s)
            else:
                time.sleep(interval_s)
    return False
