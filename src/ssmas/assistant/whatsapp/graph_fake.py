"""A small local stand-in for the WhatsApp Graph API, for tests, the demo and benchmarks.

It accepts sends and mark-as-read calls and records them (a send is checked against the
request models of ``models.outbound``, as Meta checks it: text, interactive buttons and lists,
image, document, template; anything else is a 400 with Graph's code 100), serves registered
media (a media id resolves to a URL on this server, which returns the bytes), and can be
scripted to answer the next sends with 131047, 131056, a 500 or a hang. It does not call webhooks by
itself; on request it builds the status webhook Meta would send for a recorded message
(``FakeGraphState.status_delivery``, ``GET /_fake/status/{wa_id}``), echoing the send's
``biz_opaque_callback_data`` as Meta does. Control endpoints live under ``/_fake``.
Run it with ``python -m ssmas.assistant.whatsapp.graph_fake --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from ssmas.assistant.whatsapp.models.outbound import SEND_MODELS

_ERRORS = {
    131047: (400, "Re-engagement message"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit"),
    500: (500, "Internal server error"),
}


StatusName = Literal["sent", "delivered", "read", "failed"]


class ScriptRule(BaseModel):
    """Answer the next ``times`` sends (to ``to``, or anyone) with ``code`` or a hang."""

    code: int | None = None
    hang_s: float = 0.0
    times: int = Field(default=1, ge=1)
    to: str | None = None


class MediaUpload(BaseModel):
    id: str
    mime_type: str
    data_b64: str


@dataclass
class FakeGraphState:
    """Everything the fake remembers; safe to read from another thread."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    rules: list[ScriptRule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        with self.lock:
            self.media[media_id] = (data, mime_type)

    def script(self, rule: ScriptRule) -> None:
        with self.lock:
            self.rules.append(rule)

    def take_rule(self, to: str | None) -> ScriptRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.to is None or rule.to == to:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                    return rule
        return None

    def sent_to(self, to: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.sent if s["to"] == to]

    def status_delivery(
        self, wa_id: str, status: str = "sent", *, error_code: int | None = None
    ) -> dict[str, Any] | None:
        """The webhook body Meta would POST for ``status`` of the recorded send ``wa_id`` (None
        when no such send was accepted); the send's ``biz_opaque_callback_data`` is echoed."""
        with self.lock:
            found = next((s for s in self.sent if s["wa_id"] == wa_id), None)
        if found is None:
            return None
        entry: dict[str, Any] = {
            "id": wa_id,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": found["to"],
        }
        callback = found["body"].get("biz_opaque_callback_data")
        if callback is not None:
            entry["biz_opaque_callback_data"] = callback
        if error_code is not None:
            title = _ERRORS.get(error_code, (400, "Scripted error"))[1]
            entry["errors"] = [{"code": error_code, "title": title}]
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550000000",
                "phone_number_id": found["phone_number_id"],
            },
            "statuses": [entry],
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": "fake-waba", "changes": [{"value": value, "field": "messages"}]}],
        }


def _graph_error(code: int, status: int, message: str) -> JSONResponse:
    body = {
        "error": {
            "message": f"(#{code}) {message}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": uuid.uuid4().hex[:11],
        }
    }
    return JSONResponse(body, status_code=status)


def create_graph_fake(state: FakeGraphState | None = None, *, token: str | None = None) -> FastAPI:
    """The fake's app; ``token`` (when given) must be the bearer token of every Graph call."""
    app = FastAPI(title="WhatsApp Graph API fake")
    app.state.fake = state or FakeGraphState()
    fake: FakeGraphState = app.state.fake

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and (token is None or header[7:] == token)

    @app.post("/_fake/script")
    async def script(rule: ScriptRule) -> dict[str, str]:
        fake.script(rule)
        return {"status": "scripted"}

    @app.post("/_fake/media")
    async def upload(media: MediaUpload) -> dict[str, str]:
        fake.add_media(media.id, base64.b64decode(media.data_b64), media.mime_type)
        return {"id": media.id}

    @app.get("/_fake/sent")
    async def sent(since: int = 0) -> list[dict[str, Any]]:
        """Recorded sends in order, from the ``since``-th on (a poller's cursor)."""
        with fake.lock:
            return list(fake.sent[max(0, since) :])

    @app.get("/_fake/status/{wa_id}")
    async def status_delivery(wa_id: str, status: StatusName = "sent") -> Response:
        body = fake.status_delivery(wa_id, status)
        if body is None:
            return JSONResponse({"error": f"no recorded send {wa_id}"}, status_code=404)
        return JSONResponse(body)

    @app.get("/_fake/reads")
    async def reads() -> list[str]:
        with fake.lock:
            return list(fake.reads)

    @app.post("/_fake/reset")
    async def reset() -> dict[str, str]:
        with fake.lock:
            fake.sent.clear()
            fake.reads.clear()
            fake.rules.clear()
        return {"status": "reset"}

    @app.get("/_media/{media_id}")
    async def media_bytes(media_id: str, request: Request) -> Response:
        if not authorised(request):
            return _graph_error(190, 401, "Invalid OAuth access token")
        found = fake.media.get(media_id)
        if found is None:
            return Response(status_code=404)
        return Response(content=found[0], media_type=found[1])

    @app.post("/{version}/{phone_number_id}/messages")
    async def messages(version: str, phone_number_id: str, request: Request) -> Response:
        if not authorised(request):
            return _graph_error(190, 401, "Invalid OAuth access token")
        body = await request.json()
        if body.get("status") == "read":
            with fake.lock:
                fake.reads.append(str(body.get("message_id")))
            return JSONResponse({"success": True})
        model = SEND_MODELS.get(str(body.get("type")))
        if model is None:
            return _graph_error(100, 400, f"Invalid parameter: unsupported type {body.get('type')}")
        try:
            model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            return _graph_error(100, 400, f"Invalid parameter {where}: {first['msg']}")
        to = str(body.get("to", ""))
        rule = fake.take_rule(to)
        if rule is not None and rule.hang_s > 0:
            await asyncio.sleep(rule.hang_s)
            return _graph_error(2, 503, "Service temporarily unavailable")
        if rule is not None and rule.code is not None:
            status, message = _ERRORS.get(rule.code, (400, "Scripted error"))
            return _graph_error(rule.code, status, message)
        wa_id = "wamid.fake" + uuid.uuid4().hex
        record = {"wa_id": wa_id, "to": to, "type": body.get("type"), "body": body}
        record["phone_number_id"] = phone_number_id
        record["at"] = time.time()
        with fake.lock:
            fake.sent.append(record)
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wa_id, "message_status": "accepted"}],
            }
        )

    @app.get("/{version}/{media_id}")
    async def media_url(version: str, media_id: str, request: Request) -> Response:
        if not authorised(request):
            return _graph_error(190, 401, "Invalid OAuth access token")
        found = fake.media.get(media_id)
        if found is None:
            return _graph_error(100, 404, "Unsupported get request: unknown media id")
        data, mime = found
        url = str(request.base_url).rstrip("/") + f"/_media/{media_id}?ext={int(time.time())}"
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": url,
                "mime_type": mime,
                "sha256": digest,
                "file_size": str(len(data)),
                "id": media_id,
            }
        )

    return app


# uvicorn logs its life cycle on this logger, for every server in the process.
_UVICORN_LOG = logging.getLogger("uvicorn.error")


class _QuietThread(logging.Filter):
    """Drops the INFO lines uvicorn logs from one thread; warnings and errors still pass.

    A server on a background thread (the demo's Graph fake) would otherwise log "Started
    server process [pid]", "Uvicorn running on ..." and the lifespan lines a second time, with
    the platform server's pid, as if the platform had started twice.
    """

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.thread_name = thread_name

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.threadName != self.thread_name


@dataclass
class RunningServer:
    """An ASGI app served by uvicorn on a background thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    quiet: logging.Filter | None = None

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        if self.quiet is not None:
            _UVICORN_LOG.removeFilter(self.quiet)


def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0 picks a free port) until ``stop()``.

    uvicorn's start and stop lines from this server are not logged (see ``_QuietThread``).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    name = f"uvicorn-thread-{bound}"
    quiet = _QuietThread(name)
    _UVICORN_LOG.addFilter(quiet)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        _UVICORN_LOG.removeFilter(quiet)
        raise RuntimeError("server did not start")
    return RunningServer(f"http://{host}:{bound}", server, thread, quiet)


@dataclass
class RunningFake:
    """A Graph API fake served on a background thread (tests and the demo)."""

    url: str
    state: FakeGraphState
    running: RunningServer

    @property
    def graph_url(self) -> str:
        """The base URL to configure as ``SSMAS_WHATSAPP_GRAPH_URL``."""
        return self.url + "/v23.0"

    def stop(self) -> None:
        self.running.stop()


def start_graph_fake(host: str = "127.0.0.1", port: int = 0) -> RunningFake:
    """Serve a fresh fake until ``stop()``; its state is readable in-process."""
    state = FakeGraphState()
    running = serve_in_thread(create_graph_fake(state), host, port)
    return RunningFake(running.url, state, running)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the WhatsApp Graph API fake.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    uvicorn.run(create_graph_fake(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
