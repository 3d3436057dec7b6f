"""``GET /ops/healing``, the healing table of the ops health page, and load shedding on the
platform's own app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.notify import LogNotifier
from ssmas.core.security import create_api_key
from ssmas.ops.healing.api import RUNTIME
from ssmas.ops.healing.journal import HealingAction, HealingJournal, journal_path
from ssmas.ops.healing.supervisor import HealingPolicy, Supervisor, WorkerUnit
from ssmas.settings import Settings


@contextmanager
def app_client(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with TestClient(create_app(settings=settings)) as client:
        platform = client.app.state.platform  # type: ignore[attr-defined]
        keys = {}
        with platform.uow() as uow:
            for scope in ("ops:read", "pricing:read", "*"):
                keys[scope], _ = create_api_key(uow.session, f"k-{scope}", [scope])
            uow.commit()
        yield client, {k: f"Bearer {v}" for k, v in keys.items()}


def record_some(settings: Settings) -> None:
    journal = HealingJournal(journal_path(settings.data_dir))
    journal.record(HealingAction.now("restart", "adops.rules", "ok", "exited with code -9", pid=7))
    journal.record(HealingAction.now("open_breaker", "campaigns.sender", "ok", "crash loop"))


def test_the_api_lists_recent_actions_for_ops_readers(settings: Settings) -> None:
    record_some(settings)
    with app_client(settings) as (client, auth):
        assert client.get("/ops/healing").status_code == 401
        refused = client.get("/ops/healing", headers={"Authorization": auth["pricing:read"]})
        assert refused.status_code == 403 and refused.json()["error"]

        body = client.get("/ops/healing", headers={"Authorization": auth["ops:read"]}).json()
        assert body["supervised"] is False and body["workers"] == []
        assert [a["action"] for a in body["actions"]] == ["open_breaker", "restart"]
        assert body["actions"][1]["detail"]["pid"] == 7

        one = client.get("/ops/healing?limit=1", headers={"Authorization": auth["ops:read"]})
        assert [a["worker"] for a in one.json()["actions"]] == ["campaigns.sender"]
        bad = client.get("/ops/healing?limit=0", headers={"Authorization": auth["ops:read"]})
        assert bad.status_code == 422 and bad.json()["error"]


def test_the_process_running_the_supervisor_lists_its_workers(settings: Settings) -> None:
    unit = WorkerUnit("x.w", "x", ("true",))
    supervisor = Supervisor(
        [unit],
        HealingPolicy(),
        env={},
        journal=HealingJournal(journal_path(settings.data_dir)),
        notifier=LogNotifier(),
    )
    try:
        with app_client(settings) as (client, auth):
            client.app.state.platform.attach(RUNTIME, supervisor)  # type: ignore[attr-defined]
            body = client.get("/ops/healing", headers={"Authorization": auth["*"]}).json()
            assert body["supervised"] is True
            assert [(w["worker"], w["state"], w["pid"]) for w in body["workers"]] == [
                ("x.w", "pending", None)
            ]
            client.app.state.platform.detach(RUNTIME)  # type: ignore[attr-defined]
    finally:
        supervisor.close()


def test_the_health_page_shows_the_healing_table(settings: Settings) -> None:
    with app_client(settings) as (client, auth):
        raw = auth["*"].removeprefix("Bearer ")
        assert client.post("/login", data={"api_key": raw}, follow_redirects=False).is_redirect
        empty = client.get("/dashboard/ops/health/live").text
        assert 'id="healing-table"' in empty and "No healing action recorded." in empty
        record_some(settings)
        page = client.get("/dashboard/ops/health").text
        assert 'data-action="restart" data-worker="adops.rules" data-outcome="ok"' in page
        assert 'data-action="open_breaker" data-worker="campaigns.sender"' in page


def test_a_shedding_product_answers_503_on_writes_of_the_platform_app(settings: Settings) -> None:
    with app_client(settings) as (client, auth):
        shed = client.app.state.load_shed  # type: ignore[attr-defined]
        headers = {"Authorization": auth["*"]}
        body = {"pattern": {"source": ["x"]}, "event": {"source": "x"}}
        assert client.post("/adops/rules/test", json=body, headers=headers).status_code != 503
        shed.shed("adops", 20, "backlog 9000 > 5000 at 3 replicas")
        refused = client.post("/adops/rules/test", json=body, headers=headers)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "20"
        assert refused.json()["error"] == "overloaded"
        assert refused.headers["x-request-id"]  # still inside the request middleware
        assert client.get("/adops/rules", headers=headers).status_code != 503
        assert client.get("/health").status_code == 200
        shed.stop("adops")
        assert client.post("/adops/rules/test", json=body, headers=headers).status_code != 503
