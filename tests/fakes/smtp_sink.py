"""A minimal SMTP server (no TLS) on a free loopback port that records every delivered mail.

Speaks enough of RFC 5321 for ``smtplib``: EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET,
NOOP, QUIT. ``fail_next(command, code, text)`` scripts one failure reply for a command, so tests
can exercise temporary (4xx) and permanent (5xx) errors.
"""

from __future__ import annotations

import base64
import email
import email.policy
import socketserver
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import cast


@dataclass
class Mail:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    auth_user: str | None = None

    def message(self) -> EmailMessage:
        return cast(EmailMessage, email.message_from_bytes(self.data, policy=email.policy.default))


@dataclass
class _Session:
    mail_from: str = ""
    rcpt_to: list[str] = field(default_factory=list)
    auth_user: str | None = None


class SmtpSink:
    """``with SmtpSink(password="pw") as smtp: ... smtp.port ... smtp.mails``."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.mails: list[Mail] = []
        self.connections = 0
        self.username, self.password = username, password
        self._failures: dict[str, deque[tuple[int, str]]] = {}
        self._lock = threading.Lock()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def fail_next(self, command: str, code: int, text: str = "scripted failure") -> None:
        with self._lock:
            self._failures.setdefault(command.upper(), deque()).append((code, text))

    def _failure(self, command: str) -> tuple[int, str] | None:
        with self._lock:
            queue = self._failures.get(command)
            return queue.popleft() if queue else None

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _check_login(self, user: str, password: str) -> bool:
        return self.username is None or (user == self.username and password == self.password)

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, code: int, text: str) -> None:
                self.wfile.write(f"{code} {text}\r\n".encode())

            def handle(self) -> None:
                with sink._lock:
                    sink.connections += 1
                session = _Session()
                self.reply(220, "sink ESMTP ready")
                while line := self.rfile.readline():
                    verb, _, arg = line.decode(errors="replace").strip().partition(" ")
                    verb = verb.upper()
                    failure = sink._failure(verb)
                    if failure:
                        self.reply(*failure)
                        continue
                    if not self.dispatch(verb, arg, session):
                        return

            def dispatch(self, verb: str, arg: str, session: _Session) -> bool:
                if verb == "EHLO":
                    self.wfile.write(b"250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                elif verb == "HELO":
                    self.reply(250, "sink")
                elif verb == "AUTH":
                    self.auth(arg, session)
                elif verb == "MAIL":
                    session.mail_from, session.rcpt_to = _address(arg), []
                    self.reply(250, "OK")
                elif verb == "RCPT":
                    session.rcpt_to.append(_address(arg))
                    self.reply(250, "OK")
                elif verb == "DATA":
                    self.data(session)
                elif verb in {"RSET", "NOOP"}:
                    self.reply(250, "OK")
                elif verb == "QUIT":
                    self.reply(221, "bye")
                    return False
                else:
                    self.reply(502, "command not implemented")
                return True

            def auth(self, arg: str, session: _Session) -> None:
                mechanism, _, initial = arg.partition(" ")
                if mechanism.upper() == "PLAIN":
                    if not initial:
                        self.wfile.write(b"334 \r\n")
                        initial = self.rfile.readline().decode().strip()
                    _, user, password = base64.b64decode(initial).decode().split("\0")
                else:
                    self.wfile.write(b"334 VXNlcm5hbWU6\r\n")
                    user = base64.b64decode(self.rfile.readline().strip()).decode()
                    self.wfile.write(b"334 UGFzc3dvcmQ6\r\n")
                    password = base64.b64decode(self.rfile.readline().strip()).decode()
                if sink._check_login(user, password):
                    session.auth_user = user
                    self.reply(235, "authenticated")
                else:
                    self.reply(535, "authentication failed")

            def data(self, session: _Session) -> None:
                self.reply(354, "end with <CRLF>.<CRLF>")
                lines: list[bytes] = []
                while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                mail = Mail(session.mail_from, list(session.rcpt_to), b"".join(lines))
                mail.auth_user = session.auth_user
                with sink._lock:
                    sink.mails.append(mail)
                self.reply(250, "queued")

        return Handler


def _address(arg: str) -> str:
    start, end = arg.find("<"), arg.find(">")
    return arg[start + 1 : end] if start >= 0 < end else arg.split(":", 1)[-1].strip()
