"""An operator resets a worker's open breaker: ``POST /ops/healing/{worker}/reset`` and
``ssmas ops heal reset``, on a real supervisor whose stand-in worker crash-loops and then runs."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.bootstrap import create_app
from ssmas.cli import app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security import create_api_key, list_audit
from ssmas.core.worker import wait_until
from ssmas.ops.healing.api import RUNTIME
from ssmas.ops.healing.journal import HealingJournal, journal_path
from ssmas.ops.healing.supervisor import HealingPolicy, Supervisor, WorkerUnit
from ssmas.settings import Settings, use_settings
from tests.integration.campaigns_sending_support import free_port, live_api
from tests.integration.test_ops_healing_checks import Inbox

# Exits with code 3 while the counter file holds more than 0 (counting it down), then runs.
FLAKY = """
import pathlib, sys, time
counter = pathlib.Path(sys.argv[1])
left = int(counter.read_text())
if left > 0:
    counter.write_text(str(left - 1))
    sys.exit(3)
time.sleep(600)
"""
# Two restarts in the window open the breaker; it would not half-open within the test.
POLICY = HealingPolicy(
    check_interval_s=0.2,
    start_grace_s=60.0,
    backoff_s=0.01,
    crash_loop_restarts=2,
    crash_loop_window_s=600.0,
    breaker_s=600.0,
)


@contextmanager
def tripped(settings: Settings, tmp_path: Path) -> Iterator[tuple[Supervisor, Inbox, Path]]:
    """A supervisor whose one worker crashed three times: its breaker is open."""
    counter = tmp_path / "crashes"
    counter.write_text("3")
    unit = WorkerUnit("p.flaky", "p", (sys.executable, "-c", FLAKY, str(counter)))
    inbox = Inbox()
    sup = Supervisor(
        [unit],
        POLICY,
        env={},
        journal=HealingJournal(journal_path(settings.data_dir)),
        notifier=inbox,
    )
    stop = threading.Event()
    thread = sup.start(stop)
    try:
        assert wait_until(lambda: state(sup)["state"] == "open", 60, 0.05)
        yield sup, inbox, counter
    finally:
        stop.set()
        thread.join(30)


def state(sup: Supervisor) -> dict[str, Any]:
    return sup.status()[0]


def keys(platform: Platform) -> dict[str, str]:
    found = {}
    with platform.uow() as uow:
        for scope in ("ops:read", "ops:admin"):
            raw, record = create_api_key(uow.session, f"k-{scope}", [scope])
            found[scope] = raw
            found[f"{scope} prefix"] = record.prefix
        uow.commit()
    return found


def healing(sup: Supervisor) -> list[tuple[str, str, Any]]:
    return [
        (a.action, a.reason, a.detail.get("actor"))
        for a in reversed(sup.journal.recent(100))
        if a.action in ("close_breaker", "restart", "open_breaker")
    ]


def test_an_ops_admin_resets_an_open_breaker_over_the_api(
    settings: Settings, tmp_path: Path
) -> None:
    with TestClient(create_app(settings=settings)) as client:
        platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
        key = keys(platform)
        admin = {"Authorization": f"Bearer {key['ops:admin']}"}
        url = "/ops/healing/p.flaky/reset"
        refused = client.post(url, headers=admin)
        assert refused.status_code == 409 and refused.json()["error"] == "not_supervised"

        with tripped(settings, tmp_path) as (sup, inbox, counter):
            platform.attach(RUNTIME, sup)
            assert client.post(url).status_code == 401
            reader = client.post(url, headers={"Authorization": f"Bearer {key['ops:read']}"})
            assert reader.status_code == 403
            unknown = client.post("/ops/healing/p.other/reset", headers=admin)
            assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_worker"
            assert "p.flaky" in unknown.json()["message"]
            assert client.post("/ops/healing/..%2F/reset", headers=admin).status_code in (404, 422)
            spawns = sup.replicas[0].spawns

            done = client.post(url, headers=admin)
            assert done.status_code == 200, done.text
            actor = f"apikey:{key['ops:admin prefix']}"
            body = done.json()
            assert body["worker"] == "p.flaky" and body["actor"] == actor
            (replica,) = body["replicas"]
            assert replica["state"] == "running" and replica["pid"] is not None
            assert replica["restarts"] == 0 and replica["breaker_opens"] == 0
            assert sup.replicas[0].spawns == spawns + 1
            assert counter.read_text() == "0"

            again = client.post(url, headers=admin)
            assert again.status_code == 409 and again.json()["error"] == "breaker_closed"
            platform.detach(RUNTIME)

        reason = f"reset by {actor}"
        assert healing(sup)[-2:] == [("close_breaker", reason, actor), ("restart", reason, actor)]
        assert wait_until(lambda: len(inbox.sent) == 2, 10, 0.05)
        opened, closed = inbox.sent
        assert not opened.resolved and closed.resolved
        assert closed.dedup_key == opened.dedup_key and actor in closed.body
        with platform.uow() as uow:
            (entry,) = list_audit(uow.session, 10, action="ops.breaker_reset")
        assert (entry.actor, entry.target) == (actor, "p.flaky")
        assert entry.details["pids"] == [replica["pid"]]


def test_ssmas_ops_heal_reset_asks_the_supervising_server(
    settings: Settings, tmp_path: Path
) -> None:
    platform = build_platform(settings)
    runner = CliRunner()
    try:
        key = keys(platform)
        with tripped(settings, tmp_path) as (sup, _inbox, _counter):
            platform.attach(RUNTIME, sup)
            with live_api(platform, free_port()) as base, use_settings(settings):
                args = ["ops", "heal", "reset", "--url", base]
                no_key = runner.invoke(app, [*args, "p.flaky"], env={"SSMAS_API_KEY": ""})
                assert no_key.exit_code == 2 and "--api-key" in no_key.output
                weak = runner.invoke(app, [*args, "p.flaky", "--api-key", key["ops:read"]])
                assert weak.exit_code == 2 and "ops:admin" in weak.output
                unknown = runner.invoke(app, [*args, "p.nope", "--api-key", key["ops:admin"]])
                assert unknown.exit_code == 2 and "unknown_worker" in unknown.output
                assert state(sup)["state"] == "open"

                done = runner.invoke(
                    app, [*args, "p.flaky"], env={"SSMAS_API_KEY": key["ops:admin"]}
                )
                assert done.exit_code == 0, done.output
                assert "breaker of p.flaky closed" in done.output
                assert f"pid {state(sup)['pid']}" in done.output

                again = runner.invoke(app, [*args, "p.flaky", "--api-key", key["ops:admin"]])
                assert again.exit_code == 2 and "breaker_closed" in again.output
                assert "Traceback" not in again.output
            platform.detach(RUNTIME)
        actor = f"apikey:{key['ops:admin prefix']}"
        assert ("close_breaker", f"reset by {actor}", actor) in healing(sup)
    finally:
        platform.close()
