"""A key revoked by one process is refused by another: ``ssmas keys revoke`` against a running
``ssmas serve``, two real processes on one data directory (SQLite database and bus).

The server trusts a verified key for an hour (``SSMAS_API_KEY_CACHE_S=3600``), so only the
revocation announced on the bus can make it refuse the key while the test waits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ssmas.core.worker import wait_until
from ssmas.settings import Settings
from tests.e2e.test_serve import free_port, make_key, server_env, stop, wait_healthy


@pytest.mark.slow
def test_ssmas_keys_revoke_reaches_a_running_server(settings: Settings, tmp_path: Path) -> None:
    revoked, kept = make_key(settings), make_key(settings)
    port = free_port()
    env = server_env(settings.data_dir) | {"SSMAS_API_KEY_CACHE_S": "3600"}
    server = subprocess.Popen(
        [sys.executable, "-m", "ssmas", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server)

        def status(key: str) -> int:
            return httpx.get(f"{base}/v1/ping", headers={"X-API-Key": key}, timeout=10).status_code

        assert status(revoked) == 200 and status(kept) == 200  # both cached by the server now
        done = subprocess.run(
            [sys.executable, "-m", "ssmas", "keys", "revoke", revoked.split("_")[1]],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr
        assert wait_until(lambda: status(revoked) == 401, 10.0)
        assert status(kept) == 200
    finally:
        assert stop(server) in (0, -15)  # as tests/e2e/test_pricing_serve.py
