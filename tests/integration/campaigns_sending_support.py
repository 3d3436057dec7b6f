"""Helpers of the campaign sending tests: a platform wired to the fake SMS provider."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import uvicorn

from ssmas.campaigns.sending.recipient import Recipient
from ssmas.campaigns.sending.runtime import SendingRuntime, sending_runtime
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import CampaignsSettings, Settings

# Noon in Mexico City: outside quiet hours.
NOON_MX = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the sending runtime."""

    def __init__(self, now: datetime = NOON_MX) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def sending_settings(
    tmp_path: Path, provider_url: str, database_url: str | None = None, **campaigns: object
) -> Settings:
    section = CampaignsSettings(provider_url=provider_url, send_attempts=3, **campaigns)
    s = Settings(
        profile="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        campaigns=section,
    )
    s.ensure_dirs()
    return s


@contextmanager
def sending_platform(
    settings: Settings, clock: Clock, *, fresh: bool = True
) -> Iterator[tuple[Platform, SendingRuntime]]:
    """A platform and its sending runtime on ``clock``; on a shared PostgreSQL database the
    sending tables start empty unless ``fresh=False`` (a restart)."""
    platform = build_platform(settings)
    if settings.database_url and fresh:
        with platform.engine.begin() as conn:  # a shared PostgreSQL database: start empty
            conn.execute(sa.text("DELETE FROM campaigns_send_ledger"))
            conn.execute(sa.text("DELETE FROM campaigns_opt_outs"))
    try:
        runtime = sending_runtime(platform)
        runtime.clock = clock
        yield platform, runtime
    finally:
        platform.close()


def send_all(runtime: SendingRuntime) -> None:
    """Run a sender's passes until the ledger has nothing due, then close it."""
    from ssmas.campaigns.sending.sender import Sender

    sender = Sender(runtime)
    try:
        while sender.run_once():
            pass
    finally:
        sender.close()


def recipients(n: int, *, start: int = 1, tz: str = "America/Mexico_City") -> list[Recipient]:
    return [
        Recipient(
            lead_id=start + i,
            e164=f"+5255{10_000_000 + start + i:08d}",
            variables={"nombre": f"Cliente {start + i}"},
            time_zone=tz,
        )
        for i in range(n)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_api(platform: Platform, port: int) -> Iterator[str]:
    """The platform's API served by uvicorn on a thread (the fake provider posts to it)."""
    from ssmas.bootstrap import create_app

    config = uvicorn.Config(
        create_app(platform), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
