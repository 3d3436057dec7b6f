"""The agents on the platform's live exchange: the ``agents`` worker and the demo's loop.

The loop reads the exchange's points from the bus (``metrics.adops``, by offset, no consumer
group), keeps the recent ones in a :class:`~ssmas.adops.tools.MetricsView`, and once per new
simulated minute lets the orchestrator step: incidents the stream opened are taken, approvals
decided on the dashboard, API or CLI are applied, actions are verified. The control plane is
the exchange's database one, so what the agents change is what the live simulator reads.
Actions follow the simulated clock; approvals expire on the wall clock (people decide them).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import structlog

from ssmas.adops.agents.orchestrator import AgentRunner, Planner
from ssmas.adops.incidents import IncidentService
from ssmas.adops.safety.policy import SafetyPolicy
from ssmas.adops.tools.base import MetricsView, ToolContext
from ssmas.adops.tools.floors import floor_port_of
from ssmas.core.platform import Platform
from ssmas.exchange.metrics import TOPIC as METRICS_TOPIC
from ssmas.exchange.services import open_stores
from ssmas.exchange.world import build_world

log = structlog.get_logger("ssmas.adops.agents.live")
LIVE_WORLD_SEED = 42  # the world ``run_live`` builds by default
BATCH = 5000
LEASE = "adops-agents"
LEASE_TTL_S = 15.0


def wall() -> datetime:
    return datetime.now(UTC)


class LiveAgents:
    """The orchestrator over the platform's bus, incidents and control plane."""

    def __init__(
        self, platform: Platform, policy: SafetyPolicy, *, planner: Planner | None = None
    ) -> None:
        self.platform = platform
        world = build_world(LIVE_WORLD_SEED)
        plane, _ = open_stores(platform.settings, world)
        self.view = MetricsView()
        incidents = IncidentService(platform.engine, clock=self.sim_now)
        floors = floor_port_of(platform, world, plane)
        ctx = ToolContext(world, plane, self.view, clock=self.sim_now, floors=floors)
        self.runner = AgentRunner(incidents, ctx, policy, planner=planner, approval_clock=wall)
        self.offset = 0
        self.stepped: datetime | None = None

    def sim_now(self) -> datetime:
        last = self.view.last
        return last + timedelta(minutes=1) if last is not None else wall()

    def poll(self) -> int:
        """Read one batch of points; step the agents when a new simulated minute arrived."""
        messages = self.platform.bus.replay(METRICS_TOPIC, from_offset=self.offset, limit=BATCH)
        if messages:
            self.view.add(m.payload for m in messages)
            self.offset = messages[-1].offset + 1
        if self.view.last is not None and self.view.last != self.stepped and len(messages) < BATCH:
            self.stepped = self.view.last
            self.runner.step()
        return len(messages)

    def run(self, stop: threading.Event, *, idle_s: float = 0.5) -> None:
        """Poll until ``stop``, while this process holds the ``adops-agents`` lease (one
        orchestrator for the platform: the replicas of the worker wait as standbys)."""
        import os
        import uuid

        from ssmas.core.db import make_session_factory
        from ssmas.core.leases import LeaseStore

        leases = LeaseStore(make_session_factory(self.platform.engine))
        owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        log.info("adops_agents_started", mode=self.runner.policy.mode)
        while not stop.is_set():
            if not leases.take([LEASE], owner, LEASE_TTL_S):
                stop.wait(LEASE_TTL_S / 3)
                continue
            try:
                read = self.poll()
            except Exception:  # the loop outlives one bad minute; the next poll retries
                log.exception("adops_agents_step_failed")
                read = 0
            if read == 0:
                stop.wait(idle_s)
        leases.release([LEASE], owner)
        log.info("adops_agents_stopped")


def planner_of(platform: Platform) -> Planner | None:
    """The LLM planner when an OpenAI-compatible endpoint is configured, else none."""
    settings = platform.settings
    if not settings.llm_base_url:
        return None
    from ssmas.adops.agents.llm_planner import LLMPlanner
    from ssmas.core.llm.factory import llm_from_settings

    return LLMPlanner(llm_from_settings(settings, max_retries=0), timeout_s=settings.llm_timeout_s)


def run_agents_worker(platform: Platform, stop: threading.Event) -> None:
    """The ``agents`` worker: the orchestrator under ``settings.incidents``' policy."""
    from ssmas.adops.api_agents import policy_of

    LiveAgents(platform, policy_of(platform), planner=planner_of(platform)).run(stop)
