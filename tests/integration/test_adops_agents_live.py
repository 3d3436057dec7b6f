"""The agents on the platform's plumbing, as the ``agents`` worker runs them: the live exchange
publishes on the platform's bus and reads the database control plane and fault store, the
stream job opens incidents, :class:`LiveAgents` reads the bus, takes the incidents, acts on the
database control plane, verifies and resolves; a high-risk action waits for the named approver.
Minutes are stepped in lock-step here (the worker threads do the same, paced)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ssmas.adops.agents import cases
from ssmas.adops.agents.live import LiveAgents
from ssmas.adops.api_agents import policy_of
from ssmas.adops.runtime import stream_job
from ssmas.adops.safety import decide, list_approvals
from ssmas.core.platform import build_platform
from ssmas.exchange.faults import make_fault
from ssmas.exchange.live import LiveExchange, _store_faults, bus_publisher
from ssmas.exchange.services import open_stores
from ssmas.exchange.world import build_world
from ssmas.settings import Settings

T0 = datetime(2024, 10, 21, 4, tzinfo=UTC)


@pytest.mark.slow
def test_live_agents_fix_faults_and_wait_for_approval(settings: Settings) -> None:
    incidents = settings.incidents.model_copy(
        update={"agent_mode": "active", "agent_approvers": ["demo"]}
    )
    settings = settings.model_copy(update={"incidents": incidents})
    platform = build_platform(settings)
    world = build_world(42)
    plane, store = open_stores(settings, world)
    live = LiveExchange(world, plane, start=T0, faults=_store_faults(store))
    publish = bus_publisher(platform.bus)
    job = stream_job(platform)
    agents = LiveAgents(platform, policy_of(platform))

    def run(minutes: int) -> None:
        for _ in range(minutes):
            publish(live.step()[1])
            if live.minute.minute % 5 == 0:
                while job.poll():
                    pass
                job.checkpoint(force=True)
            while agents.poll():
                pass

    try:
        run(360)  # the stream's and the agents' baselines
        store.add(
            make_fault(world, "cache_collapse", start=live.minute, minutes=60), created_by="test"
        )
        run(25)
        done = [c for c in cases(agents.runner.incidents) if c["category"] == "PERFORMANCE"]
        assert done and done[0]["state"] == "resolved", cases(agents.runner.incidents)
        assert plane.current().state.cache_policy.mode == "replica"
        assert plane.current().actor == "agent:performance"

        store.add(
            make_fault(world, "partner_outage", start=live.minute, minutes=60), created_by="test"
        )
        run(12)
        with agents.runner.incidents.session() as session:
            (request,) = list_approvals(session, "pending")
        assert request["tool"] == "shift_traffic"
        partner = str(request["args"]["partner"])
        assert plane.current().state.weight(partner) == 1.0  # waits for the person
        decide(
            platform.engine,
            policy_of(platform),
            str(request["approval_id"]),
            "demo",
            approve=True,
            clock=lambda: datetime.now(UTC),
        )
        run(2)
        assert plane.current().state.weight(partner) == 0.0
        run(8)
        demand = [c for c in cases(agents.runner.incidents) if c["category"] == "DEMAND"]
        assert demand and demand[0]["state"] == "resolved"
    finally:
        platform.close()
    assert timedelta(0) < live.minute - T0


def test_one_orchestrator_holds_the_lease(settings: Settings) -> None:
    import threading

    import sqlalchemy as sa

    from ssmas.core.db.models import WorkerLease
    from ssmas.core.worker import wait_until

    platform = build_platform(settings)
    first, second = (
        LiveAgents(platform, policy_of(platform)),
        LiveAgents(platform, policy_of(platform)),
    )
    polled: list[str] = []
    first.poll = lambda: polled.append("first") or 0  # type: ignore[method-assign]
    second.poll = lambda: polled.append("second") or 0  # type: ignore[method-assign]
    stop = threading.Event()
    threads = [
        threading.Thread(target=a.run, args=(stop,), kwargs={"idle_s": 0.05})
        for a in (first, second)
    ]
    try:
        for t in threads:
            t.start()
        assert wait_until(lambda: len(polled) >= 10, timeout_s=30, poll_s=0.05)
        assert len(set(polled)) == 1  # the other one waits as a standby
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.select(WorkerLease).where(WorkerLease.name == "adops-agents")).all()
    assert rows == []  # released on a clean stop
    platform.close()
