"""The orchestrator's triage and the five specialists' playbooks (the deterministic brain).

Triage reads the whole exchange against its baseline, not only the entity an incident opened
on (a partner's outage first shows on the exchange's latency and on publishers): each kind of
evidence gets a strength and the strongest names the category, as the seed's orchestrator
classifies (PERFORMANCE, CONFIGURATION, DEMAND, INFRASTRUCTURE, SECURITY). Each specialist then
diagnoses with its tools, states hypotheses in order of confidence, each with the action that
would fix it and the metric that will tell (diagnose -> hypothesise -> act -> verify).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Literal

import numpy as np

from ssmas.adops.safety.executor import SafeExecutor, Verify
from ssmas.adops.tools.base import ToolContext, ToolError
from ssmas.adops.tools.entities import find_unit
from ssmas.exchange import catalog
from ssmas.exchange.knobs import FEATURE_FLAGS

Category = Literal["PERFORMANCE", "CONFIGURATION", "DEMAND", "INFRASTRUCTURE", "SECURITY"]
CATEGORIES: tuple[str, ...] = (
    "PERFORMANCE",
    "CONFIGURATION",
    "DEMAND",
    "INFRASTRUCTURE",
    "SECURITY",
)
# The simulator's fault kinds and the category each belongs to (the benchmark's ground truth).
KIND_CATEGORY: dict[str, str] = {
    "partner_outage": "DEMAND",
    "partner_latency_spike": "PERFORMANCE",
    "floor_too_high": "CONFIGURATION",
    "ad_unit_misconfiguration": "CONFIGURATION",
    "invalid_traffic_surge": "SECURITY",
    "cache_collapse": "PERFORMANCE",
    "capacity_saturation": "INFRASTRUCTURE",
    "rpm_decay": "DEMAND",
}


@dataclass(frozen=True)
class Evidence:
    problem: str  # one of KIND_CATEGORY's keys
    entity_type: str
    entity_id: str
    strength: float
    text: str


@dataclass(frozen=True)
class Triage:
    category: str
    problem: str
    entity_type: str
    entity_id: str
    evidence: tuple[Evidence, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "problem": self.problem,
            "entity": f"{self.entity_type}/{self.entity_id}",
            "evidence": [
                {
                    "problem": e.problem,
                    "entity": f"{e.entity_type}/{e.entity_id}",
                    "strength": round(e.strength, 3),
                    "text": e.text,
                }
                for e in self.evidence[:5]
            ],
        }


def triage(ctx: ToolContext, incident: dict[str, Any]) -> Triage | None:
    """The strongest evidence of a cause on the exchange now, or None when there is none."""
    found: list[Evidence] = []
    state = ctx.state()
    for p in ctx.world.partner_names():
        if state.weight(p) == 0.0:
            continue
        err, err0 = ctx.deviation("partner", p, "error_rate")
        if err - err0 >= 0.3:
            found.append(
                Evidence(
                    "partner_outage",
                    "partner",
                    p,
                    1.0 + err - err0,
                    f"{p} fails {err:.0%} of calls (baseline {err0:.0%})",
                )
            )
        tmo, tmo0 = ctx.deviation("partner", p, "timeout_rate")
        if tmo - tmo0 >= 0.2:
            found.append(
                Evidence(
                    "partner_latency_spike",
                    "partner",
                    p,
                    1.0 + tmo - tmo0,
                    f"{p} times out on {tmo:.0%} of calls (baseline {tmo0:.0%})",
                )
            )
    hit, hit0 = ctx.deviation("exchange", "exchange", "cache_hit_rate")
    if hit0 > 0 and (hit0 - hit) / hit0 >= 0.3:
        found.append(
            Evidence(
                "cache_collapse",
                "exchange",
                "exchange",
                1.0 + (hit0 - hit) / hit0,
                f"cache hit rate {hit:.0%} (baseline {hit0:.0%})",
            )
        )
    rej, rej0 = ctx.deviation("exchange", "exchange", "error_rate")
    if rej - rej0 >= 0.03:
        found.append(
            Evidence(
                "capacity_saturation",
                "exchange",
                "exchange",
                1.0 + 2 * (rej - rej0),
                f"{rej:.0%} of requests rejected (baseline {rej0:.0%})",
            )
        )
    for pub in ctx.metrics.entities("publisher"):
        ivt, ivt0 = ctx.deviation("publisher", pub, "ivt_rate")
        if ivt - ivt0 >= 0.15:
            found.append(
                Evidence(
                    "invalid_traffic_surge",
                    "publisher",
                    pub,
                    1.0 + ivt - ivt0,
                    f"{pub}: {ivt:.0%} invalid traffic (baseline {ivt0:.0%})",
                )
            )
    found += _config_evidence(ctx)
    if not found:
        own: str | None = None
        if incident.get("entity_type") == "publisher":
            own = str(incident.get("entity_id"))
        candidates = [own] if own else ctx.metrics.entities("publisher")
        bar = 0.15 if own else 0.25  # a publisher's own incident, or one seen from elsewhere
        drops = []
        for p in candidates:
            rpm, rpm0 = ctx.deviation("publisher", p, "rpm")
            # beyond the publisher's own minute-to-minute noise too (small ones are noisy):
            # the last 10 minutes' mean, four robust deviations of a 10-minute mean below
            noise = _noise(ctx, "publisher", p, "rpm")
            rpm = ctx.metrics.recent("publisher", p, "rpm", minutes=10) or rpm
            if rpm0 > 0 and (rpm0 - rpm) / rpm0 >= bar and rpm0 - rpm > 4 * noise / 10**0.5:
                drops.append(
                    Evidence(
                        "rpm_decay",
                        "publisher",
                        p,
                        (rpm0 - rpm) / rpm0,
                        f"{p} RPM {rpm:.3f} vs {rpm0:.3f}, no knob changed",
                    )
                )
        found += sorted(drops, key=lambda e: -e.strength)[:1]
    if not found:
        return None
    found.sort(key=lambda e: -e.strength)
    top = found[0]
    return Triage(
        KIND_CATEGORY[top.problem], top.problem, top.entity_type, top.entity_id, tuple(found)
    )


def _noise(ctx: ToolContext, entity_type: str, entity_id: str, metric: str) -> float:
    """Robust standard deviation of a metric's minutes over its baseline hour."""
    end = ctx.ref - timedelta(minutes=15)
    values = np.array(
        ctx.metrics.values(entity_type, entity_id, metric, end - timedelta(hours=1), end)
    )
    if len(values) < 5:
        return float("inf")
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _config_evidence(ctx: ToolContext) -> list[Evidence]:
    """Knobs changed since an hour before the incident that are now far from the world's own."""
    now = ctx.state()
    then = ctx.plane.as_of(ctx.ref - timedelta(minutes=60)).state
    out = []
    for unit in ctx.world.ad_units:
        uid = unit.ad_unit_id
        floor = now.floors.get(uid, unit.default_floor)
        if (
            floor != then.floors.get(uid, unit.default_floor)
            and floor > 3 * unit.default_floor + 0.5
        ):
            out.append(
                Evidence(
                    "floor_too_high",
                    "ad_unit",
                    uid,
                    2.0,
                    f"{uid} floor {floor:.2f} (own {unit.default_floor:.2f})",
                )
            )
        size = now.ad_unit_sizes.get(uid, unit.size)
        if size != then.ad_unit_sizes.get(uid, unit.size) and size == catalog.MISCONFIGURED_SIZE:
            out.append(
                Evidence(
                    "ad_unit_misconfiguration",
                    "ad_unit",
                    uid,
                    2.0,
                    f"{uid} declared {size} (own {unit.size})",
                )
            )
    for flag, default in FEATURE_FLAGS.items():
        if now.flag(flag) != then.flag(flag) and now.flag(flag) != default:
            out.append(
                Evidence(
                    "feature_flag", "flag", flag, 1.5, f"flag {flag} changed to {now.flag(flag)}"
                )
            )
    return out


KIND_CATEGORY["feature_flag"] = "CONFIGURATION"


@dataclass(frozen=True)
class Hypothesis:
    text: str
    tool: str
    args: dict[str, Any]
    verify: Verify | None
    confidence: float = 0.8

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tool": self.tool,
            "args": self.args,
            "verify": self.verify.as_dict() if self.verify else None,
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hypothesis:
        verify = Verify(**data["verify"]) if data.get("verify") else None
        return cls(
            data["text"], data["tool"], dict(data["args"]), verify, data.get("confidence", 0.8)
        )


def verify_on(
    ctx: ToolContext, entity_type: str, entity_id: str, metric: str, *, lower_is_better: bool
) -> Verify:
    recent, base = ctx.deviation(entity_type, entity_id, metric)
    return Verify(entity_type, entity_id, metric, base, recent, lower_is_better)


@dataclass(frozen=True)
class Diagnosis:
    """What a specialist hands a person when no tool can fix the cause: one line to read and
    the facts behind it (on the incident's timeline, in the audit log, in the escalation)."""

    summary: str
    facts: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, **self.facts}


def _output(findings: list[dict[str, Any]], tool: str) -> dict[str, Any]:
    """The structured output of a diagnostic the specialist ran ({} when it failed or did not
    run)."""
    return next((f.get("output") or {} for f in findings if f["tool"] == tool), {})


@dataclass
class Specialist(ABC):
    """One specialist agent: which diagnostics it runs and the hypotheses it draws."""

    name: ClassVar[str]
    category: ClassVar[str]
    findings: list[dict[str, Any]] = field(default_factory=list)

    @abstractmethod
    def diagnostics(self, t: Triage) -> list[tuple[str, dict[str, Any]]]:
        """The diagnostic tools to run, with their arguments."""

    @abstractmethod
    def hypotheses(self, ctx: ToolContext, t: Triage) -> list[Hypothesis]:
        """What the findings suggest, most likely first."""

    def handoff(self, t: Triage, findings: list[dict[str, Any]]) -> Diagnosis | None:
        """The diagnosis handed to a person when the playbook has no remedy (None: none)."""
        return None

    def diagnose(self, executor: SafeExecutor, incident_id: str, t: Triage) -> list[dict[str, Any]]:
        out = []
        for tool, args in self.diagnostics(t):
            try:
                result = executor.diagnose(incident_id, self.name, tool, args)
            except ToolError as exc:  # one diagnostic that cannot run does not stop the others
                out.append({"tool": tool, "args": args, "summary": f"failed: {exc}"})
                continue
            out.append(
                {
                    "tool": tool,
                    "args": args,
                    "summary": result.summary,
                    "output": result.model_dump(mode="json"),
                }
            )
        return out


def _unit_metric(ctx: ToolContext, unit_id: str) -> tuple[str, str]:
    if unit_id in ctx.metrics.entities("ad_unit"):
        return "ad_unit", unit_id
    unit = find_unit(ctx, unit_id)
    return "publisher", ctx.world.publishers[unit.publisher].publisher_id


class DemandAgent(Specialist):
    name = "demand"
    category = "DEMAND"

    def diagnostics(self, t: Triage) -> list[tuple[str, dict[str, Any]]]:
        if t.problem == "partner_outage":
            return [
                ("partner_health", {}),
                ("bid_response_analysis", {}),
                ("log_patterns", {}),
                ("revenue_impact", {}),
            ]
        entity = {"entity_type": t.entity_type, "entity_id": t.entity_id}
        return [
            ("peer_comparison", {"publisher_id": t.entity_id}),
            ("revenue_impact", entity),
            ("predictive_trend", entity),
            ("partner_health", {}),
            ("config_diff", {}),
            ("capacity_check", {}),
            ("cache_stats", {}),
        ]

    def hypotheses(self, ctx: ToolContext, t: Triage) -> list[Hypothesis]:
        if t.problem != "partner_outage":
            # demand eroding with every partner healthy and no knob changed: no knob of the
            # exchange brings a publisher's buyers back, so nothing is tried (see handoff)
            return []
        return [
            Hypothesis(
                f"{t.entity_id} is down: move its traffic to the healthy partners",
                "shift_traffic",
                {"partner": t.entity_id, "weight": 0.0},
                verify_on(ctx, "exchange", "exchange", "bid_latency_ms", lower_is_better=True),
                0.9,
            )
        ]

    def handoff(self, t: Triage, findings: list[dict[str, Any]]) -> Diagnosis | None:
        if t.problem != "rpm_decay":
            return None
        peers = _output(findings, "peer_comparison")
        revenue = _output(findings, "revenue_impact")
        trend = _output(findings, "predictive_trend")
        partners = _output(findings, "partner_health").get("partners", [])
        diff = _output(findings, "config_diff")
        capacity = _output(findings, "capacity_check")
        cache = _output(findings, "cache_stats")
        failing = sorted(p["partner"] for p in partners if p["status"] != "healthy")
        changed = sorted(diff.get("changed", {}))
        hit, hit0 = cache.get("hit_rate", 0.0), cache.get("baseline_hit_rate", 0.0)
        infra = []
        if capacity.get("rejected_share", 0.0) >= 0.03:
            infra.append(f"{capacity['rejected_share']:.0%} of requests rejected")
        if hit0 > 0 and (hit0 - hit) / hit0 >= 0.3:
            infra.append(f"cache hit rate {hit:.0%} (baseline {hit0:.0%})")
        ruled_out = [
            name
            for name, found in (
                ("partner", failing),
                ("configuration", changed),
                ("infrastructure", infra),
            )
            if not found
        ]
        facts: dict[str, Any] = {
            "publisher": t.entity_id,
            "rpm_now": peers.get("rpm_now", revenue.get("rpm_now")),
            "rpm_baseline": peers.get("rpm_baseline", revenue.get("rpm_baseline")),
            "change_pct": peers.get("change_pct"),
            "peers": peers.get("peers"),
            "peers_median_change_pct": peers.get("peers_median_change_pct"),
            "gap_to_peers_pct": peers.get("gap_pct"),
            "lost_eur_per_hour": revenue.get("lost_eur_per_hour"),
            "rpm_projected_30_min": trend.get("projected"),
            "partners_unhealthy": failing,
            "config_changed": changed,
            "infrastructure": infra,
            "causes_ruled_out": ruled_out,
            "automated_remedy": None,
        }
        parts = [f"{t.entity_id}'s demand is eroding"]
        if peers:
            parts.append(
                f"RPM {peers['rpm_now']:.3f} vs {peers['rpm_baseline']:.3f} baseline "
                f"({peers['change_pct']:+.0f}%) while its {peers['peers']} peers moved "
                f"{peers['peers_median_change_pct']:+.0f}%"
            )
        if revenue:
            parts.append(f"about EUR {revenue['lost_eur_per_hour']:.2f} lost per hour")
        if trend:
            parts.append(f"RPM projected {trend['projected']:.3f} in 30 minutes")
        parts.append(
            f"no {', no '.join(ruled_out)} cause found" if ruled_out else "other causes in play"
        )
        if failing or changed or infra:
            parts.append(f"seen: {', '.join(failing + changed + infra)}")
        parts.append(
            "no knob of the exchange brings a publisher's buyers back: a person should talk to "
            "the publisher and its demand partners"
        )
        return Diagnosis("; ".join(parts), facts)


class PerformanceAgent(Specialist):
    name = "performance"
    category = "PERFORMANCE"

    def diagnostics(self, t: Triage) -> list[tuple[str, dict[str, Any]]]:
        if t.problem == "cache_collapse":
            return [("cache_stats", {}), ("request_trace", {}), ("metric_correlation", {})]
        return [("partner_health", {}), ("request_trace", {}), ("log_patterns", {})]

    def hypotheses(self, ctx: ToolContext, t: Triage) -> list[Hypothesis]:
        if t.problem == "cache_collapse":
            return [
                Hypothesis(
                    "the primary identity cache lost its entries: serve from the warm replica",
                    "cache_warm",
                    {"mode": "replica"},
                    verify_on(ctx, "exchange", "exchange", "cache_hit_rate", lower_is_better=False),
                    0.85,
                )
            ]
        return [
            Hypothesis(
                f"{t.entity_id} answers past the auction timeout: open its circuit breaker",
                "circuit_breaker",
                {"partner": t.entity_id, "open": True},
                verify_on(ctx, "exchange", "exchange", "bid_latency_ms", lower_is_better=True),
                0.85,
            )
        ]


class ConfigurationAgent(Specialist):
    name = "configuration"
    category = "CONFIGURATION"

    def diagnostics(self, t: Triage) -> list[tuple[str, dict[str, Any]]]:
        if t.entity_type == "ad_unit":
            return [
                ("config_diff", {}),
                ("ad_unit_inspect", {"ad_unit_id": t.entity_id}),
                ("bid_response_analysis", {}),
            ]
        return [("config_diff", {}), ("feature_flags", {})]

    def hypotheses(self, ctx: ToolContext, t: Triage) -> list[Hypothesis]:
        if t.problem == "feature_flag":
            return [
                Hypothesis(
                    f"flag {t.entity_id} was changed: back to its default",
                    "feature_flag_rollback",
                    {"flag": t.entity_id},
                    verify_on(ctx, "exchange", "exchange", "error_rate", lower_is_better=True),
                    0.8,
                )
            ]
        etype, eid = _unit_metric(ctx, t.entity_id)
        check = verify_on(ctx, etype, eid, "rpm", lower_is_better=False)
        if t.problem == "floor_too_high":
            first = Hypothesis(
                f"{t.entity_id}'s floor was raised far above its own: roll it back",
                "floor_rollback",
                {"ad_unit_id": t.entity_id},
                check,
                0.9,
            )
        else:
            first = Hypothesis(
                f"{t.entity_id} is declared in a size no buyer takes: restore it",
                "restore_ad_unit_size",
                {"ad_unit_id": t.entity_id},
                check,
                0.9,
            )
        before = ctx.plane.as_of(ctx.ref - timedelta(minutes=60)).version
        whole = Hypothesis(
            "roll the whole control plane back to an hour before the incident",
            "config_rollback",
            {"version": before},
            check,
            0.5,
        )
        return [first, whole]


class InfrastructureAgent(Specialist):
    name = "infrastructure"
    category = "INFRASTRUCTURE"

    def diagnostics(self, t: Triage) -> list[tuple[str, dict[str, Any]]]:
        return [("capacity_check", {}), ("log_patterns", {}), ("feature_flags", {})]

    def hypotheses(self, ctx: ToolContext, t: Triage) -> list[Hypothesis]:
        from ssmas.adops.tools.base import get_tool

        tool = get_tool("capacity_check")
        need = tool.run(ctx, tool.parse({})).recommended_units  # type: ignore[attr-defined]
        return [
            Hypothesis(
                f"the serving pool is saturated: scale from {ctx.state().capacity_units} "
                f"to {need} units",
                "scale_capacity",
                {"units": int(need)},
                verify_on(ctx, "exchange", "exchange", "error_rate", lower_is_better=True),
                0.85,
            )
        ]


class SecurityAgent(Specialist):
    name = "security"
    category = "SECURITY"

    def diagnostics(self, t: Triage) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("traffic_quality", {}),
            ("health_check", {"entity_type": t.entity_type, "entity_id": t.entity_id}),
        ]

    def hypotheses(self, ctx: ToolContext, t: Triage) -> list[Hypothesis]:
        return [
            Hypothesis(
                f"a bot network is sending {t.entity_id} invalid requests: block the source",
                "block_invalid_traffic",
                {"source": catalog.INVALID_SOURCE, "block": True},
                verify_on(ctx, t.entity_type, t.entity_id, "rpm", lower_is_better=False),
                0.85,
            )
        ]


SPECIALISTS: dict[str, type[Specialist]] = {
    cls.category: cls
    for cls in (
        DemandAgent,
        PerformanceAgent,
        ConfigurationAgent,
        InfrastructureAgent,
        SecurityAgent,
    )
}
