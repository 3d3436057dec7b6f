"""``ssmas serve --workers 2`` as an operator runs it: two API processes behind one port, with
Prometheus counters merged across them, and the console script's one-line settings errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ssmas.settings import Settings
from tests.e2e.test_serve import free_port, make_key, server_env, stop, wait_healthy

PING = re.compile(
    r'^ssmas_api_requests_total\{method="GET",route="/v1/ping",status="200"\} (\S+)$', re.M
)


@pytest.mark.slow
def test_two_workers_serve_one_port_and_merge_their_metrics(
    settings: Settings, tmp_path: Path
) -> None:
    raw = make_key(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ssmas", "serve", "--workers", "2", "--port", str(port)],
            env=server_env(settings.data_dir),
            stdout=log,
            stderr=log,
        )
        try:
            wait_healthy(base, proc)
            sent = 60
            for _ in range(sent):
                # A new connection each time, so the kernel spreads them over both workers.
                with httpx.Client(base_url=base, timeout=10.0) as client:
                    answer = client.get("/v1/ping", headers={"X-API-Key": raw})
                    assert answer.status_code == 200
            text = httpx.get(base + "/metrics", timeout=10.0).text
        finally:
            code = stop(proc)
    assert code == 0, log_path.read_text()[-2000:]
    # Each worker writes its own files; /metrics of either sums them all.
    counted = PING.search(text)
    assert counted is not None, text[:2000]
    assert float(counted.group(1)) == sent
    files = list((settings.data_dir / "prometheus").glob("*.db"))
    assert len({f.name.rsplit("_", 1)[-1] for f in files}) >= 2, files  # two processes wrote
    assert log_path.read_text().count("Child process died") == 0


def test_invalid_settings_end_the_command_with_one_line(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data")
    env["SSMAS_PRICING_RETENTION_HOURS"] = "-3"
    done = subprocess.run(
        [sys.executable, "-m", "ssmas", "keys", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: invalid settings: SSMAS_PRICING_RETENTION_HOURS: Input should be greater than "
        "or equal to 0 (got '-3')"
    ]
    assert "Traceback" not in done.stderr
