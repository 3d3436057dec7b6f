"""Request heads are bounded on a real server process (issue 12, item 2).

``ssmas serve`` is started on a port; oversized headers, too many headers and a head that never
ends are refused before the app runs (431 / 431 / 408, connection closed), and ``/health``
keeps answering while several clients hold partial oversized heads open.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ssmas.core.api.head_guard import HEAD_TIMEOUT_S, MAX_HEAD_BYTES, MAX_HEADERS
from ssmas.settings import Settings
from tests.e2e.test_serve import free_port, server_env, stop, wait_healthy

READ_TIMEOUT_S = HEAD_TIMEOUT_S + 30.0  # a refusal that never comes fails the test, not hangs it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    data_dir = tmp_path_factory.mktemp("heads") / "data"
    Settings(profile="test", data_dir=data_dir).ensure_dirs()
    port = free_port()
    log_path = data_dir.parent / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ssmas", "serve", "--port", str(port)],
            env=server_env(data_dir),
            stdout=log,
            stderr=log,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            yield port
        finally:
            stop(proc)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S)
    return sock


def _answer(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _health(port: int) -> Any:
    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=READ_TIMEOUT_S)


@pytest.mark.slow
def test_an_oversized_header_is_refused_and_health_stays_up(server: int) -> None:
    attackers = []
    try:
        # Eight clients hold heads just under the limit open (never finished)...
        for _ in range(8):
            sock = _connect(server)
            sock.sendall(
                b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES // 2)
            )
            attackers.append(sock)
        # ...while the server keeps answering everyone else.
        for _ in range(20):
            assert _health(server).status_code == 200
        # A head past the limit is answered 431 and the connection closed, before any app code.
        with _connect(server) as sock:
            sock.sendall(
                b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 4096)
            )
            answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b'"error":"headers_too_large"' in answer
    finally:
        for sock in attackers:
            sock.close()
    assert _health(server).status_code == 200


@pytest.mark.slow
def test_too_many_headers_are_refused(server: int) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    # A request within the limits is served: many headers, a large cookie.
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(MAX_HEADERS // 2))
    with _connect(server) as sock:
        cookie = b"Cookie: c=" + b"x" * 8192 + b"\r\n"
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + cookie)
        sock.sendall(b"\r\n")
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


@pytest.mark.slow
def test_a_head_that_never_ends_is_timed_out(server: int) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        answer = _answer(sock)  # the server closes it: no more bytes are ever sent
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert _health(server).status_code == 200


def test_every_server_path_bounds_request_heads(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """Single process (``uvicorn.Config``) and multi-worker (``uvicorn.run``) alike."""
    import uvicorn

    from ssmas import server as server_module
    from ssmas.core.api.head_guard import GuardedHttpToolsProtocol

    config = server_module._config(object(), settings, None, 0)  # type: ignore[arg-type]
    assert config.http is GuardedHttpToolsProtocol
    assert config.h11_max_incomplete_event_size == MAX_HEAD_BYTES
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    # serve() exports the settings for its worker processes: keep them out of this process's
    # environment, where they would reconfigure every later test (Prometheus multiprocess mode).
    monkeypatch.setattr(os, "environ", dict(os.environ))
    server_module.serve(settings, port=0, workers=2)
    assert seen["workers"] == 2 and seen["http"] is GuardedHttpToolsProtocol
    assert seen["h11_max_incomplete_event_size"] == MAX_HEAD_BYTES
