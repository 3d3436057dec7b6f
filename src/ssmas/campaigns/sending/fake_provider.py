"""A local fake of Twilio's Messages API that also posts delivery receipts (the tests', the
benchmark's and ``ssmas demo``'s SMS provider; ``tests.fakes.sms_provider`` re-exports it).

``FakeSmsProvider`` serves ``POST``/``GET /2010-04-01/Accounts/{sid}/Messages.json`` on a free
loopback port (basic auth with the account SID and auth token), answers like Twilio (201 and
the message resource; errors as ``{"code", "message", "status"}``), and for each accepted
message posts ``queued`` → ``sent`` → ``delivered`` (or ``undelivered`` / ``failed`` for the
numbers told so) to its ``StatusCallback``, form-encoded and signed with
``X-Twilio-Signature``. A request whose ``Idempotency-Key`` it has seen returns the message
already created instead of a second one. ``refuse(n, status)`` answers the next ``n`` sends
with 429 (``Retry-After``) or a 5xx; ``inbound`` plays a handset texting our number.

``handset`` counts messages per recipient number: what the phones received.
``honour_idempotency=False`` makes it a provider that ignores the header (as Twilio does),
``latency_s`` slows every send, ``clock`` dates the messages (tests pass their own).

Run alone: ``python -m ssmas.campaigns.sending.fake_provider --port 8766`` (the default
``SSMAS_CAMPAIGNS_PROVIDER_URL``).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from ssmas.core.security import sign_twilio
from ssmas.settings import DEV_SMS_TOKEN

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = DEV_SMS_TOKEN


@dataclass
class FakeMessage:
    sid: str
    to: str
    from_: str
    body: str
    status: str
    created_at: datetime
    callback: str | None

    def resource(self, account_sid: str) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status": self.status,
            "direction": "outbound-api",
            "date_created": format_datetime(self.created_at, usegmt=True),
            "error_code": None,
        }


class _QuietServer(ThreadingHTTPServer):
    """A client killed mid-request (the SIGKILL tests) is not an error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class FakeSmsProvider:
    """Context manager: ``with FakeSmsProvider() as fake: ... fake.url ... fake.handset``."""

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        port: int = 0,
        receipts: bool = True,
        receipt_delay_s: float = 0.0,
        honour_idempotency: bool = True,
        latency_s: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.receipts = receipts
        self.receipt_delay_s = receipt_delay_s
        self.honour_idempotency = honour_idempotency
        self.latency_s = latency_s
        self.clock = clock
        self.messages: dict[str, FakeMessage] = {}
        self.by_key: dict[str, str] = {}
        self.handset: Counter[str] = Counter()
        self.undeliverable: set[str] = set()
        self.failing: set[str] = set()
        self.requests = 0
        self.deduplicated = 0
        self.callbacks_posted = 0
        self.callback_errors = 0
        self._refusals: list[int] = []
        self._sids = itertools.count(1)
        self._lock = threading.Lock()
        self._outbox: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue()
        self._server = _QuietServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._poster = threading.Thread(target=self._post_receipts, daemon=True)
        self._http = httpx.Client(timeout=30.0)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeSmsProvider:
        self._thread.start()
        self._poster.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._outbox.put(None)
        self._poster.join(5)
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def refuse(self, n: int, status: int = 429) -> None:
        """Answer the next ``n`` sends with ``status`` (429 with ``Retry-After: 0``, or 5xx)."""
        with self._lock:
            self._refusals.extend([status] * n)

    def wait_receipts(self, timeout_s: float = 30.0) -> None:
        """Wait until every receipt queued so far has been posted and answered (the one in
        flight included: an empty queue alone says nothing about it)."""
        deadline = time.monotonic() + timeout_s
        while self._outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def inbound(self, url: str, from_: str, body: str, to: str = "+15005550006") -> httpx.Response:
        """A handset texts our number: post Twilio's inbound webhook to ``url``, signed."""
        form = {
            "MessageSid": f"SMin{next(self._sids):030d}",
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
        }
        headers = {"X-Twilio-Signature": sign_twilio(self.auth_token, url, form)}
        return self._http.post(url, data=form, headers=headers)

    # --- server side ---------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _create(self, form: dict[str, str], key: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if self._refusals:
                status = self._refusals.pop(0)
                code = 20429 if status == 429 else 20500
                return status, {"code": code, "message": "refused by the fake", "status": status}
            if self.honour_idempotency and key and key in self.by_key:
                self.deduplicated += 1
                return 201, self.messages[self.by_key[key]].resource(self.account_sid)
            to = form.get("To", "")
            if not to.startswith("+") or not to[1:].isdigit() or not 8 <= len(to) - 1 <= 15:
                message = f"The 'To' number {to} is not a valid phone number."
                return 400, {"code": 21211, "message": message, "status": 400}
            sid = f"SM{next(self._sids):032x}"
            msg = FakeMessage(
                sid=sid,
                to=to,
                from_=form.get("From", ""),
                body=form.get("Body", ""),
                status="queued",
                created_at=self.clock(),
                callback=form.get("StatusCallback"),
            )
            self.messages[sid] = msg
            if key:
                self.by_key[key] = sid
            self.handset[to] += 1
        if msg.callback and self.receipts:
            final = "delivered"
            if to in self.undeliverable:
                final = "undelivered"
            elif to in self.failing:
                final = "failed"
            for step in ("queued", "sent", final):
                if step == "sent" and final == "failed":
                    continue
                self._outbox.put((sid, {"status": step}))
        return 201, msg.resource(self.account_sid)

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        to, from_ = query.get("To"), query.get("From")
        size = int(query.get("PageSize") or 50)
        with self._lock:
            rows = [
                m.resource(self.account_sid)
                for m in reversed(self.messages.values())  # newest first, as Twilio lists
                if (to is None or m.to == to) and (from_ is None or m.from_ == from_)
            ][:size]
        return {"messages": rows, "page": 0, "page_size": size}

    def _post_receipts(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                self._outbox.task_done()
                return
            try:
                self._post_one(*item)
            finally:
                self._outbox.task_done()

    def _post_one(self, sid: str, change: dict[str, str]) -> None:
        if self.receipt_delay_s:
            time.sleep(self.receipt_delay_s)
        with self._lock:
            msg = self.messages[sid]
            msg.status = change["status"]
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "MessageStatus": msg.status,
            "SmsStatus": msg.status,
            "To": msg.to,
            "From": msg.from_,
            "ApiVersion": "2010-04-01",
        }
        if msg.status in ("undelivered", "failed"):
            form["ErrorCode"] = "30003" if msg.status == "undelivered" else "30008"
        assert msg.callback is not None
        signature = sign_twilio(self.auth_token, msg.callback, form)
        try:
            self._http.post(msg.callback, data=form, headers={"X-Twilio-Signature": signature})
            self.callbacks_posted += 1
        except httpx.HTTPError:
            self.callback_errors += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self
        path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(raw)

            def _guard(self) -> bool:
                if urlsplit(self.path).path != path:
                    self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                    return False
                if not fake._authorised(self.headers.get("Authorization")):
                    self._answer(401, {"code": 20003, "message": "unauthorised", "status": 401})
                    return False
                return True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:  # the client died mid-request: nothing was asked
                    self.close_connection = True
                    return
                form = dict(parse_qsl(raw.decode()))
                if not self._guard():
                    return
                if fake.latency_s:
                    time.sleep(fake.latency_s)
                status, body = fake._create(form, self.headers.get("Idempotency-Key"))
                self._answer(status, body)

            def do_GET(self) -> None:
                if not self._guard():
                    return
                self._answer(200, fake._list(dict(parse_qsl(urlsplit(self.path).query))))

        return Handler


def main() -> None:  # pragma: no cover - a manual entry point
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    with FakeSmsProvider(port=args.port) as fake:
        print(f"fake SMS provider on {fake.url}", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
