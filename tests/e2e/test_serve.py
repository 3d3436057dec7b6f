"""The API as a real server process: ``run_up`` serving HTTP with a background worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from ssmas.core.health import wait_healthy as core_wait_healthy
from ssmas.core.platform import build_platform
from ssmas.core.security.keys import create_api_key
from ssmas.settings import Settings

STARTUP_TIMEOUT_S = 90.0  # generous: the machine is shared, imports alone can take seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_key(settings: Settings) -> str:
    platform = build_platform(settings)
    try:
        with platform.uow() as uow:
            raw, _record = create_api_key(uow.session, "e2e", ["*"])
            uow.commit()
    finally:
        platform.close()
    return str(raw)


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    env.update({"SSMAS_PROFILE": "test", "SSMAS_DATA_DIR": str(data_dir)})
    return env


def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    if not core_wait_healthy(base, timeout_s=STARTUP_TIMEOUT_S, proc=proc):
        raise AssertionError("server did not become healthy in time")


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


RUN_UP = textwrap.dedent(
    """
    import sys
    from ssmas import bootstrap, server
    from ssmas.settings import Settings

    # The one line a new product adds to the composition root (tests/fakes/sample_product).
    bootstrap.PRODUCT_MODULES += ("tests.fakes.sample_product.product",)
    server.run_up(Settings(), port=int(sys.argv[1]))
    """
)


@pytest.mark.slow
def test_run_up_serves_the_api_and_stops_its_workers(settings: Settings, tmp_path: Path) -> None:
    """One real process: uvicorn serving the app plus every product's worker loops, the test's
    sample product among them.

    (The ``uvicorn ssmas.server:create_app_from_env --factory`` path is exercised by the API
    benchmark's own e2e test.)
    """
    raw = make_key(settings)
    env = server_env(settings.data_dir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    marks = settings.data_dir / "sample-worker.marks"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN_UP, str(port)],
            env=env,
            stdout=log,
            stderr=log,
            cwd=Path(__file__).resolve().parents[2],  # the repository, so `tests` imports
        )
        try:
            wait_healthy(base, proc)
            assert marks.read_text() == "started\n"
            check_api(base, raw)
        finally:
            code = stop(proc)
    assert code == 0
    assert marks.read_text() == "started\nstopped\n"

    # The server logs JSON lines carrying the request id.
    logged = [
        json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")
    ]
    assert any(e.get("event") == "request" and e.get("request_id") == "e2e-refused" for e in logged)


def check_api(base: str, raw: str) -> None:
    with httpx.Client(base_url=base, timeout=10.0) as client:
        health = client.get("/health")
        assert health.json()["status"] == "ok"
        assert health.headers["x-request-id"]

        pong = client.get("/v1/ping", headers={"Authorization": f"Bearer {raw}"})
        assert pong.status_code == 200
        assert pong.json() == {"pong": True, "key": "e2e"}

        refused = client.get("/v1/ping", headers={"X-Request-ID": "e2e-refused"})
        assert refused.status_code == 401
        assert refused.json()["request_id"] == "e2e-refused"

        assert client.get("/ready").json()["status"] == "ready"
        text = client.get("/metrics").text
        assert 'ssmas_api_requests_total{method="GET",route="/v1/ping",status="200"}' in text
