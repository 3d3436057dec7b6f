"""The demo campaign's experiment and bandit, live: simulated people answer the campaign.

``demo_experiment`` puts an experiment on the demo's campaign before its launch (the control
greeting vs a shorter text, primary metric ``conversion``, guardrail ``optout``): the launch
sends each recipient its variant's text and records it as the experiment's unit.
``start_live`` adds a Thompson-sampling bandit (4 message variants x 3 send times, the
recipient simulator's true rates). Each :meth:`LiveDemo.tick` then plays one round:

- every recipient whose message the ledger has sent since the last round converts (or opts
  out) with its variant's probability: the conversion is recorded on the send ledger (the
  *Campaigns* page's ``converted`` count rises) and as the experiment's outcome;
- ``visitors`` more simulated recipients of the same audience (``sim-…`` units: the demo's
  2,000 leads alone would take days to decide anything) are assigned and answer the same way;
- the seed's auto-conclusion runs (the experiment stops once its always-valid test allows);
- the bandit draws an arm for ``visitors`` simulated recipients from its posteriors and records
  whether each converted.

The variants' rates are known (:data:`RATES`), so what the pages show can be checked against
the truth (the simulated people answer by their variant, not by reading the text).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import sqlalchemy as sa
import structlog

from ssmas.campaigns.bandits import campaign_simulator
from ssmas.campaigns.errors import QuotaExceeded
from ssmas.campaigns.live.bandits import choose_arms, create_bandit, record_rewards
from ssmas.campaigns.live.experiments import (
    MetricSpec,
    OutcomeIn,
    assign_units,
    auto_conclude,
    create_experiment,
    get_experiment,
    record_outcomes,
)
from ssmas.campaigns.live.tables import LiveBandit
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.sending import ledger
from ssmas.campaigns.sending.tables import SendRow
from ssmas.campaigns.tables import Tenant
from ssmas.core.db import utcnow
from ssmas.core.platform import Platform

__all__ = [
    "OPTOUT_RATE",
    "RATES",
    "SHORT_TEMPLATE",
    "LiveDemo",
    "demo_experiment",
    "run_live",
    "start_live",
]

log = structlog.get_logger(__name__)

# the greeting experiment's true conversion rates: the shorter text converts a third better
RATES = {"control": 0.05, "short": 0.065}
OPTOUT_RATE = 0.01
VISITORS = 200
BANDIT_PULL_CAP = 50_000


@dataclass
class LiveDemo:
    """The demo campaign's experiment and bandit, and what has been played so far."""

    platform: Platform
    tenant_id: int
    campaign_id: int
    experiment_id: int | None
    bandit_id: int | None
    seed: int = 17
    judged: set[int] = field(default_factory=set)
    visitors_so_far: int = 0
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.world = campaign_simulator(self.seed)

    def _answers(self, variants: list[str]) -> tuple[np.ndarray, np.ndarray]:
        p = np.array([RATES[v] for v in variants])
        return self.rng.random(p.size) < p, self.rng.random(p.size) < OPTOUT_RATE

    def _outcomes(self, units: list[str], variants: list[str]) -> tuple[list[OutcomeIn], list[int]]:
        converted, opted = self._answers(variants)
        rows = [OutcomeIn(u, "conversion", float(c)) for u, c in zip(units, converted, strict=True)]
        rows += [OutcomeIn(u, "optout", float(o)) for u, o in zip(units, opted, strict=True)]
        return rows, [i for i, c in enumerate(converted) if c]

    def tick(self, visitors: int = VISITORS, now: datetime | None = None) -> dict[str, int]:
        """One round (see the module's docstring); what it recorded."""
        now = now or utcnow()
        done = {"recipients": 0, "conversions": 0, "visitors": 0, "bandit_pulls": 0}
        with self.platform.uow() as uow:
            scope = TenantScope(uow.session, self.tenant_id)
            running = (
                self.experiment_id is not None
                and get_experiment(scope, self.experiment_id).status == "running"
            )
            sent = [
                lead
                for lead in uow.session.scalars(
                    sa.select(SendRow.lead_id).where(
                        SendRow.tenant_id == self.tenant_id,
                        SendRow.campaign_id == self.campaign_id,
                        SendRow.sent_at.is_not(None),
                    )
                )
                if lead not in self.judged
            ]
            if running and self.experiment_id is not None:
                units = [f"lead-{lead}" for lead in sent]
                visitors_units = [f"sim-{self.visitors_so_far + i}" for i in range(visitors)]
                given = assign_units(scope, self.experiment_id, units + visitors_units, now=now)
                variants = [a["variant"] for a in given]
                rows, converted = self._outcomes(units + visitors_units, variants)
                record_outcomes(scope, self.experiment_id, rows, now=now)
                for i in converted:
                    if i < len(sent):
                        ledger.record_conversion(
                            uow.session,
                            tenant_id=self.tenant_id,
                            campaign_id=self.campaign_id,
                            lead_id=sent[i],
                            now=now,
                        )
                done.update(recipients=len(sent), conversions=len(converted), visitors=visitors)
                self.visitors_so_far += visitors
                auto_conclude(scope)
            self.judged.update(sent)
            if self.bandit_id is not None:
                pulls = int(sum(scope.get(LiveBandit, self.bandit_id, "bandit").pulls))
                if pulls < BANDIT_PULL_CAP:
                    arms = choose_arms(scope, self.bandit_id, visitors, seed=pulls)
                    rewards = []
                    for name in arms:
                        variant, send_time = name.split(" @ ")
                        arm = self.world.arm(
                            list(self.world.variants).index(variant),
                            list(self.world.send_times).index(send_time),
                        )
                        rewards.append((name, self.world.send(arm)))
                    record_rewards(scope, self.bandit_id, rewards, now=now)
                    done["bandit_pulls"] = len(arms)
            uow.commit()
        return done


SHORT_TEMPLATE = "Hola {nombre}: 30% este fin en {city}. BAJA para salir."


def demo_experiment(scope: TenantScope, tenant: Tenant, campaign_id: int, stamp: str) -> int | None:
    """The greeting experiment on the demo's campaign, before its launch: the control keeps
    the campaign's text, ``short`` gets :data:`SHORT_TEMPLATE`; ``None`` when the tenant's
    experiment quota is used up (earlier demos' experiments still running)."""
    try:
        exp = create_experiment(
            scope,
            tenant,
            key=f"demo-greeting-c{campaign_id}",
            name=f"Greeting: long vs short ({stamp})",
            variants=[("control", 1.0), ("short", 1.0)],
            metric=MetricSpec("conversion"),
            guardrails=[MetricSpec("optout", higher_is_better=False, tolerance=0.25)],
            campaign_id=campaign_id,
            templates={"short": SHORT_TEMPLATE},
        )
    except QuotaExceeded as exc:
        log.warning("campaigns_demo_experiment_skipped", reason=str(exc))
        return None
    return int(exp["id"])


def start_live(
    platform: Platform, tenant: Tenant, campaign_id: int, experiment_id: int | None, stamp: str
) -> LiveDemo:
    """The bandit on the demo's launched campaign, and the rounds' state; the experiment
    (:func:`demo_experiment`) had the campaign's recipients assigned at launch."""
    world = campaign_simulator(17)
    names = [f"{v} @ {s}" for v in world.variants for s in world.send_times]
    with platform.uow() as uow:
        bandit = create_bandit(
            TenantScope(uow.session, tenant.id),
            name=f"Variant x send time ({stamp})",
            arms=names,
            campaign_id=campaign_id,
            true_rates=[float(p) for p in world.probabilities()],
        )
        uow.commit()
    return LiveDemo(platform, tenant.id, campaign_id, experiment_id, int(bandit["id"]))


def run_live(live: LiveDemo, stop: threading.Event, interval_s: float = 2.0) -> None:
    """Play rounds every ``interval_s`` until ``stop`` (errors are logged, not raised)."""
    while not stop.wait(interval_s):
        try:
            live.tick()
        except Exception as exc:  # the demo keeps serving whatever a round did
            log.warning("campaigns_demo_live_round_failed", error=str(exc)[:300])
