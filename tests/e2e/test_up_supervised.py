"""``run_up(supervise=True)``, the path of ``ssmas up``: the API in one process, each worker a
process it supervises; a SIGKILLed worker comes back and the API lists the restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from ssmas.core.worker import wait_until
from ssmas.settings import Settings
from tests.e2e.test_serve import free_port, make_key, server_env, stop, wait_healthy

UP = textwrap.dedent(
    """
    import sys
    from ssmas import server
    from ssmas.bootstrap import find_product
    from ssmas.settings import Settings

    server.run_up(Settings(), port=int(sys.argv[1]), products=[find_product("ops")], supervise=True)
    """
)


@pytest.mark.slow
def test_up_supervises_its_workers_as_processes(settings: Settings, tmp_path: Path) -> None:
    raw = make_key(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**server_env(settings.data_dir), "SSMAS_OPS_HEAL_CHECK_INTERVAL_S": "0.5"}
    with (tmp_path / "up.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", UP, str(port)], env=env, stdout=log, stderr=log
        )
        try:
            wait_healthy(base, proc)
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {raw}"}) as api:

                def workers() -> list[dict[str, Any]]:
                    body = api.get("/ops/healing").json()
                    assert body["supervised"] is True
                    return list(body["workers"])

                def backup_up() -> bool:
                    found = workers()
                    return len(found) == 1 and found[0]["rss_mb"] is not None

                assert wait_until(backup_up, 120, 0.2)
                first = workers()[0]
                assert first["worker"] == "ops.backup" and first["state"] == "running"
                os.kill(first["pid"], signal.SIGKILL)

                def replaced() -> bool:
                    now = workers()[0]
                    return now["pid"] not in (None, first["pid"]) and now["rss_mb"] is not None

                assert wait_until(replaced, 120, 0.2)
                actions = api.get("/ops/healing").json()["actions"]
                assert [(a["action"], a["worker"], a["outcome"]) for a in actions] == [
                    ("restart", "ops.backup", "ok")
                ]
                metrics = api.get("/metrics").text
                assert (
                    'ssmas_ops_healing_actions_total{action="restart",outcome="ok",'
                    'worker="ops.backup"} 1.0' in metrics
                )
                assert 'ssmas_ops_worker_replicas_count{worker="ops.backup"} 1.0' in metrics
                child = workers()[0]["pid"]
        finally:
            code = stop(proc)
    assert code == 0
    assert wait_until(lambda: not _alive(child), 30, 0.1)  # the children stop with it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose: only its parent (ended) could reap it
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
