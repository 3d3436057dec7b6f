"""The supervisor's parts without processes: backoff, the metrics it reads, the journal, and
load shedding on a real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from starlette.middleware import Middleware

from ssmas.core.api.shed import LoadShed, LoadShedMiddleware
from ssmas.ops.healing.journal import ACTIONS_TOTAL, HealingAction, HealingJournal
from ssmas.ops.healing.probe import parse_sample
from ssmas.ops.healing.supervisor import HealingPolicy, backoff_s


def test_backoff_doubles_per_recent_restart_up_to_its_cap() -> None:
    policy = HealingPolicy(backoff_s=0.5, backoff_max_s=5.0)
    assert [backoff_s(policy, n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_sample_reads_what_a_worker_exports() -> None:
    registry = CollectorRegistry()
    Gauge("ssmas_worker_heartbeat_timestamp_seconds", "", registry=registry).set(1234.5)
    Gauge("process_resident_memory_bytes", "", registry=registry).set(50 * 2**20)
    acked = Counter("ssmas_bus_acked", "", ["topic", "group"], registry=registry)
    acked.labels("a", "g1").inc(30)
    acked.labels("a.p1", "g1").inc(10)
    Counter("ssmas_bus_nacked", "", ["topic", "group"], registry=registry).labels("a", "g1").inc(5)
    handling = Counter("ssmas_worker_handling_seconds", "", ["topic", "group"], registry=registry)
    handling.labels("a", "g1").inc(2.5)
    backlog = Gauge("ssmas_bus_backlog_count", "", ["topic", "group"], registry=registry)
    backlog.labels("a", "g1").set(700)
    backlog.labels("a.p1", "g1").set(400)
    backlog.labels("b", "g2").set(9)
    age = Gauge("ssmas_bus_backlog_age_seconds", "", ["topic", "group"], registry=registry)
    age.labels("a", "g1").set(12)
    age.labels("a.p1", "g1").set(30)

    sample = parse_sample(generate_latest(registry).decode())

    assert sample.heartbeat == 1234.5 and sample.rss_bytes == 50 * 2**20
    assert (sample.acked, sample.nacked, sample.handling_s) == (40, 5, 2.5)
    assert sample.backlog_of(["g1"]) == (1100, 30)  # partitions summed, oldest wins
    assert sample.backlog_of(["g1", "g2"]) == (1109, 30)
    assert sample.backlog_of(["nobody"]) == (0, 0)


def test_the_journal_logs_counts_and_reads_back_newest_first(tmp_path: Path) -> None:
    journal = HealingJournal(tmp_path / "ops" / "healing.jsonl", max_bytes=400)
    before = ACTIONS_TOTAL.labels("restart", "x.w", "failed")._value.get()
    for n in range(6):
        journal.record(HealingAction.now("restart", "x.w", "failed", f"crash {n}", pid=n))
    (tmp_path / "ops" / "healing.jsonl").open("a").write("not json\n")

    recent = journal.recent(3)
    assert [a.reason for a in recent] == ["crash 5", "crash 4", "crash 3"]
    assert recent[0].detail == {"pid": 5}
    assert ACTIONS_TOTAL.labels("restart", "x.w", "failed")._value.get() == before + 6
    assert (tmp_path / "ops" / "healing.jsonl.1").exists()  # rotated past max_bytes
    with pytest.raises(ValueError):
        HealingAction.now("reboot", "x.w", "ok", "no such action")


def shed_app(shed: LoadShed) -> FastAPI:
    orders, other = APIRouter(prefix="/orders"), APIRouter(prefix="/other")

    @orders.post("/{order_id}")
    def place(order_id: int) -> dict[str, int]:
        return {"placed": order_id}

    @orders.get("/{order_id}")
    def read(order_id: int) -> dict[str, int]:
        return {"read": order_id}

    @other.post("/ping")
    def ping() -> dict[str, bool]:
        return {"pong": True}

    routes = {"shop": orders.routes, "misc": other.routes}
    app = FastAPI(middleware=[Middleware(LoadShedMiddleware, shed=shed, routes=routes)])
    app.include_router(orders)
    app.include_router(other)
    return app


def test_a_shedding_product_refuses_writes_with_retry_after_and_serves_reads() -> None:
    now = [100.0]
    shed = LoadShed(clock=lambda: now[0])
    client = TestClient(shed_app(shed))
    assert client.post("/orders/1").json() == {"placed": 1}

    shed.shed("shop", 30, "backlog 6000")
    refused = client.post("/orders/2")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "30"
    assert refused.json()["error"] == "overloaded" and "shop" in refused.json()["message"]
    assert client.get("/orders/2").json() == {"read": 2}  # reads are served
    assert client.post("/other/ping").json() == {"pong": True}  # other products too
    assert client.post("/orders/x").status_code == 503  # any write to the product's routes

    now[0] += 29.5
    assert client.post("/orders/3").headers["retry-after"] == "1"
    now[0] += 1.0
    assert client.post("/orders/3").json() == {"placed": 3}  # over
    assert shed.active() == []
    with pytest.raises(ValueError):
        shed.shed("shop", 0, "no time")
