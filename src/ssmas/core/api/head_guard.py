"""Bounds on the request head (request line + headers), in front of the app.

uvicorn's httptools protocol puts no limit on a request head: a 64 MB header is buffered (and
re-copied while it grows) before the app sees anything, stalling the event loop, and a client
that sends its head slowly holds a connection forever. :class:`GuardedHttpToolsProtocol`
refuses, before the app runs:

- a head larger than ``MAX_HEAD_BYTES`` → ``431`` and the connection closed (the bytes are
  counted as they arrive, so at most one socket read beyond the limit is ever parsed);
- more than ``MAX_HEADERS`` header fields → ``431``;
- a head not complete ``HEAD_TIMEOUT_S`` after its first byte (or after the connection opened)
  → ``408``.

``server_limits()`` is what ``ssmas.server`` passes to ``uvicorn.Config`` / ``uvicorn.run``:
this protocol, and the same size bound for h11 should it be chosen instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "HEAD_TIMEOUT_S",
    "MAX_HEADERS",
    "MAX_HEAD_BYTES",
    "GuardedHttpToolsProtocol",
    "server_limits",
]

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
HEAD_TIMEOUT_S = 10.0

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the request head bounded in size, count and time."""

    max_head_bytes = MAX_HEAD_BYTES
    max_headers = MAX_HEADERS
    head_timeout_s = HEAD_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
            self._start_head_timer()
        super().data_received(data)
        if (
            self._in_head
            and not self._refused
            and self._head_bytes > self.max_head_bytes
            and not self.transport.is_closing()  # not already answered 400 by uvicorn
        ):
            self._refuse(431, f"request head over {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            if not self._refused:
                self._refuse(431, f"more than {self.max_headers} header fields")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        # The next request's head starts now (keep-alive or pipelining).
        self._in_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if not self._refused:
            super().send_400_response(msg)

    def _start_head_timer(self) -> None:
        if self._head_timer is None and self.head_timeout_s > 0:
            loop = asyncio.get_running_loop()
            self._head_timer = loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self._refused and not self.transport.is_closing():
            self._refuse(408, f"request head not received within {self.head_timeout_s:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with a JSON error body and close the connection."""
        self._refused = True
        self._stop_head_timer()
        self.logger.warning("request refused: %s", message)
        body = (
            b'{"error":"'
            + (b"request_timeout" if status == 408 else b"headers_too_large")
            + b'","message":"'
            + message.encode("ascii")
            + b'","request_id":null}'
        )
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def server_limits() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` bounding request heads."""
    return {
        "http": GuardedHttpToolsProtocol,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "timeout_keep_alive": 5,
    }
