"""``ssmas.core.keepalive.KeepAliveClient`` against a real local HTTP/1.1 server: kept-alive
connections, a connection the server closed, refusals and timeouts as httpx's errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ssmas.core.keepalive import KeepAliveClient


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0
    seen: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def log_message(self, *args: Any) -> None:
        return None  # quiet test output

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "type": self.headers.get("Content-Type"),
                "body": json.loads(body) if body else None,
            }
        )
        if self.path.endswith("/slow"):
            time.sleep(1.0)
        out = json.dumps({"ok": True, "path": self.path}).encode()
        self.send_response(429 if self.path.endswith("/busy") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        if self.path.endswith("/busy"):
            self.send_header("Retry-After", "7")
        if self.path.endswith("/close"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _answer


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _client(srv: _Server, timeout: float = 5.0) -> KeepAliveClient:
    port = srv.server_address[1]
    return KeepAliveClient(
        f"http://127.0.0.1:{port}/v23.0", headers={"Authorization": "Bearer t"}, timeout=timeout
    )


def test_requests_share_one_connection_and_carry_json_and_headers(server: _Server) -> None:
    client = _client(server)
    for i in range(5):
        response = client.request("POST", "123/messages", json={"n": i, "text": "¿qué?"})
        assert response.status_code == 200
        assert response.json()["path"] == "/v23.0/123/messages"
    got = client.request("GET", "media-1")
    assert got.json()["path"] == "/v23.0/media-1"
    assert server.connections == 1
    assert [s["body"] for s in server.seen[:2]] == [
        {"n": 0, "text": "¿qué?"},
        {"n": 1, "text": "¿qué?"},
    ]
    assert all(s["auth"] == "Bearer t" for s in server.seen)
    assert server.seen[0]["type"] == "application/json"
    assert server.seen[-1]["method"] == "GET" and server.seen[-1]["body"] is None
    client.close()


def test_headers_of_an_answer_are_readable(server: _Server) -> None:
    response = _client(server).request("POST", "123/busy", json={})
    assert response.status_code == 429
    assert response.headers.get("Retry-After") == "7"


def test_a_connection_the_server_closed_is_replaced(server: _Server) -> None:
    client = _client(server)
    assert client.request("POST", "1/close", json={}).status_code == 200
    assert client.request("POST", "1/messages", json={}).status_code == 200
    assert server.connections == 2  # "Connection: close" was honoured, not reused
    # the server drops an idle kept-alive connection: the next request opens a new one
    idle = client._idle[0]
    assert idle.sock is not None
    idle.sock.shutdown(socket.SHUT_RDWR)
    assert client.request("POST", "1/messages", json={}).status_code == 200
    assert server.connections == 3


def test_threads_use_the_pool_concurrently(server: _Server) -> None:
    client = _client(server)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert client.request("POST", "1/messages", json={}).status_code == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(server.seen) == 80
    assert server.connections <= 4


def test_refused_and_slow_servers_raise_httpx_transport_errors(server: _Server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    refused = KeepAliveClient(f"http://127.0.0.1:{free}/", headers={}, timeout=1.0)
    with pytest.raises(httpx.ConnectError):
        refused.request("POST", "x", json={})
    with pytest.raises(httpx.ReadTimeout):
        _client(server, timeout=0.2).request("POST", "1/slow", json={})


def test_only_paths_under_the_base_url() -> None:
    with pytest.raises(ValueError):
        KeepAliveClient("ftp://example.org", headers={}, timeout=1.0)
    client = KeepAliveClient("http://127.0.0.1:9/", headers={}, timeout=1.0)
    with pytest.raises(ValueError):
        client.request("GET", "https://cdn.example.org/file")


def test_a_proxied_host_is_left_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    from ssmas.assistant.whatsapp.client import GraphClient
    from ssmas.core.keepalive import proxied
    from ssmas.settings import WhatsAppSettings

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        for variant in (name, name.lower()):
            monkeypatch.delenv(variant, raising=False)
    settings = WhatsAppSettings(graph_url="https://graph.example.org/v23.0")
    assert not proxied(settings.graph_url)
    direct = GraphClient(settings)
    assert isinstance(direct._api, KeepAliveClient)
    direct.close()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert proxied(settings.graph_url)
    via_proxy = GraphClient(settings)
    assert via_proxy._api is via_proxy._http  # httpx, which honours the proxy
    via_proxy.close()
    monkeypatch.setenv("NO_PROXY", "graph.example.org")
    assert not proxied(settings.graph_url)
