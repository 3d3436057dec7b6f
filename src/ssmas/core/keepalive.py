"""A small keep-alive HTTP/1.1 client for one API host, for calls made hundreds of times a
second.

httpx spends about 0.5 ms of CPU on each request before a byte leaves (request building, header
merging, auth and redirect flows, the connection pool's locks); ``http.client`` on a kept-alive
socket spends about 0.2 ms. The assistant sends two Graph API calls per answered message (the
reply and the read receipt), so that difference was a sixth of a worker's CPU per message.

``KeepAliveClient.request`` answers with an ``httpx.Response`` and fails with httpx's transport
errors, so a caller written for ``httpx.Client`` (its retry verdicts, its error reading) needs no
second path. Connections are pooled (a thread takes one, uses it, gives it back); an idle one
the server has closed is noticed before reuse (its socket reads as ready) and replaced, as
httpcore does. Only relative paths under the base URL go through it: anything else (media on a
CDN host) stays with httpx, and so does a host the environment sends through a proxy
(``HTTPS_PROXY`` and the like, which httpx honours and ``http.client`` does not: ``proxied``).
"""

from __future__ import annotations

import http.client
import json as jsonlib
import select
import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass

import httpx

MAX_IDLE = 16


class KeepAliveClient:
    """Requests to one ``base_url`` (``http`` or ``https``) with fixed headers and a timeout."""

    def __init__(self, base_url: str, *, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/") + "/"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/") + "/"
        self._headers = {"Host": parts.netloc, "Accept": "*/*", **headers}
        self._timeout = timeout
        self._context = ssl.create_default_context() if self._https else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """``method`` on ``base_url + path``; the body, when given, as JSON."""
        if "://" in path:
            raise ValueError("KeepAliveClient takes paths under its base URL only")
        target = self._prefix + path.lstrip("/")
        headers = dict(self._headers)
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if body is not None or method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body or b""))
        conn = self._take()
        try:
            conn.request(method, target, body=body, headers=headers)
            raw = conn.getresponse()
            content = raw.read()
            reusable = not raw.will_close
        except TimeoutError as exc:
            conn.close()
            raise httpx.ReadTimeout(f"{method} {target}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            kind = httpx.ConnectError if conn.sock is None else httpx.RemoteProtocolError
            conn.close()
            raise kind(f"{method} {target}: {exc!r}") from exc
        if reusable:
            self._give_back(conn)
        else:
            conn.close()
        # No ``request`` attached (building one costs more than the response): callers read
        # the status, headers and body only.
        return httpx.Response(raw.status, headers=raw.getheaders(), content=content)

    def _take(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            if _still_open(conn):
                return conn
            conn.close()

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection can carry a request: connected, and nothing to read (an idle
    socket that reads as ready has been closed by the server, or holds stray bytes)."""
    sock: socket.socket | None = conn.sock
    if sock is None:
        return True  # not connected yet: ``request`` connects it
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def proxied(url: str) -> bool:
    """Whether the environment's proxy variables send ``url`` through a proxy (as httpx, which
    reads them, would): such a host is left to httpx."""
    parts = urlsplit(url)
    proxies = getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not proxy_bypass(parts.hostname or "")
