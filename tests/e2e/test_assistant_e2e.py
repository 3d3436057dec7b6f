"""Real processes over HTTP: the API server, the Graph API fake and assistant workers.

Webhook in → reply at the fake; and a worker SIGKILLed in the middle of sending a reply loses
nothing and, once another worker takes over, the customer gets exactly one reply.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ssmas.core.health import stop_processes
from tests.integration.assistant_channel_support import signature, text_delivery

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (httpx.HTTPError, sa.exc.OperationalError):
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.fake_url = f"http://127.0.0.1:{free_port()}"
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.data_dir = tmp / "data"
        self.env = {
            **os.environ,
            "SSMAS_PROFILE": "test",
            "SSMAS_DATA_DIR": str(self.data_dir),
            "SSMAS_LOG_LEVEL": "WARNING",
            "SSMAS_WHATSAPP_GRAPH_URL": self.fake_url + "/v23.0",
            "SSMAS_WHATSAPP_BRAIN": "tests.integration.assistant_channel_support:scripted_brain",
            "SSMAS_WHATSAPP_RETRY_BACKOFF_S": "0.05",
            "SSMAS_WHATSAPP_VISIBILITY_TIMEOUT_S": "2",
            "SSMAS_WHATSAPP_SEND_LEASE_S": "2",
            "SSMAS_WHATSAPP_RECIPIENT_RATE_PER_S": "100",
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def start_servers(self) -> None:
        fake_port = self.fake_url.rsplit(":", 1)[1]
        self.spawn("-m", "ssmas.assistant.whatsapp.graph_fake", "--port", fake_port)
        api_port = self.api_url.rsplit(":", 1)[1]
        self.spawn(
            "-m",
            "uvicorn",
            "ssmas.server:create_app_from_env",
            "--factory",
            "--port",
            api_port,
            "--log-level",
            "warning",
        )
        wait_for(lambda: httpx.get(self.fake_url + "/_fake/sent").status_code == 200, 120, "fake")
        wait_for(lambda: httpx.get(self.api_url + "/health").status_code == 200, 120, "api")

    def worker(self, *extra: str) -> subprocess.Popen[bytes]:
        return self.spawn("-m", "ssmas", "worker", "assistant", *extra)

    def post(self, body: bytes) -> httpx.Response:
        return httpx.post(
            self.api_url + "/whatsapp/webhook",
            content=body,
            headers={"x-hub-signature-256": signature(body), "content-type": "application/json"},
        )

    def sent_to(self, phone: str) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = httpx.get(self.fake_url + "/_fake/sent").json()
        return [s for s in sent if s["to"] == phone]

    def db(self) -> sa.Engine:
        return sa.create_engine(f"sqlite:///{self.data_dir / 'ssmas.db'}")

    def stop(self) -> None:
        stop_processes(self.procs, timeout_s=5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("assistant-e2e"))
    try:
        running.start_servers()
        yield running
    finally:
        running.stop()


def test_webhook_in_reply_out(stack: Stack) -> None:
    worker = stack.worker()
    try:
        phone = "16505550100"
        response = stack.post(text_delivery(phone, "Hi, where is my order?", "wamid.e2e.1"))
        assert response.status_code == 200
        [reply] = wait_for(lambda: stack.sent_to(phone), 60, "the reply")
        assert reply["body"]["text"]["body"].startswith("[en] answer about order_status")
        assert reply["body"]["context"] == {"message_id": "wamid.e2e.1"}
    finally:
        worker.terminate()
        worker.wait(15)
    assert worker.returncode == 0, worker.stderr.read().decode()[-2000:] if worker.stderr else ""


def test_worker_killed_mid_send_loses_nothing_and_replies_once(stack: Stack) -> None:
    phone = "16505550200"
    httpx.post(stack.fake_url + "/_fake/script", json={"hang_s": 20, "to": phone})
    first = stack.worker()
    assert (
        stack.post(text_delivery(phone, "where is my order", "wamid.e2e.kill")).status_code == 200
    )
    engine = stack.db()
    sending = sa.text("SELECT id FROM assistant_messages WHERE direction='out' AND state='sending'")
    try:
        with engine.connect() as conn:
            wait_for(lambda: conn.execute(sending).first(), 60, "the worker to start sending")
        os.kill(first.pid, signal.SIGKILL)  # mid-message: reply stored, send in flight
        first.wait(10)
        assert stack.sent_to(phone) == []
        second = stack.worker()
        try:
            wait_for(lambda: stack.sent_to(phone), 60, "the reply after the takeover")
            time.sleep(2.5)  # a further visibility period: no second copy may appear
            assert len(stack.sent_to(phone)) == 1
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT m.direction, m.state FROM assistant_messages m JOIN "
                        "assistant_conversations c ON c.id = m.conversation_id "
                        "WHERE c.id = (SELECT conversation_id FROM assistant_messages "
                        "WHERE wa_id = 'wamid.e2e.kill') ORDER BY m.id"
                    )
                ).all()
            assert [tuple(r) for r in rows] == [("in", "done"), ("out", "sent")]
        finally:
            second.terminate()
            second.wait(15)
    finally:
        engine.dispose()
