"""wait_healthy: true once /health answers 200, false on timeout or stop, raises if it died."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ssmas.core.health import ServerExited, wait_healthy


class _SlowStart(BaseHTTPRequestHandler):
    answers: list[int] = []

    def do_GET(self) -> None:
        status = 200 if len(self.answers) >= 3 and self.path == "/health" else 503
        self.answers.append(status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture()
def slow_server() -> Iterator[tuple[str, list[int]]]:
    answers: list[int] = []
    handler = type("Handler", (_SlowStart,), {"answers": answers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


def test_waits_through_unhealthy_answers(slow_server: tuple[str, list[int]]) -> None:
    url, answers = slow_server
    assert wait_healthy(url, timeout_s=10, interval_s=0.01)
    assert answers[:3] == [503, 503, 503]
    assert answers[-1] == 200


def test_nothing_listening_times_out() -> None:
    assert not wait_healthy("http://127.0.0.1:9", timeout_s=0.3, interval_s=0.05)


def test_stop_ends_the_wait() -> None:
    stop = threading.Event()
    stop.set()
    assert not wait_healthy("http://127.0.0.1:9", timeout_s=30, stop=stop)


def test_a_dead_server_process_raises() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(ServerExited, match="code 3"):
        wait_healthy("http://127.0.0.1:9", timeout_s=30, proc=proc)
