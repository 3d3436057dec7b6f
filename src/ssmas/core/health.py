"""The life of a server process seen from outside: wait until it is healthy, stop it.

``wait_healthy`` polls ``/health`` until it answers 200: used wherever one process starts
another and must not talk to it too early (the demo's scenarios, end-to-end tests and
benchmarks). ``stop_processes`` ends subprocesses politely, then by force.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

__all__ = ["ServerExited", "stop_processes", "wait_healthy"]


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


def stop_processes(procs: Sequence[subprocess.Popen[Any]], *, timeout_s: float = 10.0) -> None:
    """SIGTERM every process still running, then wait for each up to ``timeout_s``; one that
    has not ended by then is killed (SIGKILL) and reaped."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
