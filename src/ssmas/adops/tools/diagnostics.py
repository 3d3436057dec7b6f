"""Diagnostic tools (the seed's ``AdvancedDiagnosticTools`` and more): read metrics and knobs.

Each compares what an entity does now (the mean of its last three minutes) with its baseline
(the median of the hour ending 15 minutes before the incident opened), so a finding says how
far from normal something is, not only where it is.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ssmas.adops.tools.base import Tool, ToolContext, ToolError, ToolInput, ToolOutput, register
from ssmas.adops.tools.entities import UnitInput, find_unit
from ssmas.exchange.engine import OVERHEAD_HIT_MS, OVERHEAD_MISS_MS
from ssmas.exchange.knobs import FEATURE_FLAGS

EntityType = Literal["exchange", "partner", "publisher", "ad_unit"]
HEALTH_METRICS = (
    "rpm",
    "fill_rate",
    "bid_latency_ms",
    "error_rate",
    "timeout_rate",
    "cache_hit_rate",
    "ivt_rate",
    "floor_reject_rate",
    "capacity_utilisation",
)
LOWER_IS_WORSE = {"rpm", "fill_rate", "cache_hit_rate", "requests", "revenue_eur"}


def _known(ctx: ToolContext, entity_type: str, entity_id: str) -> None:
    if entity_id not in ctx.metrics.entities(entity_type):
        raise ToolError(f"no metrics for {entity_type} {entity_id!r}")


def _badness(metric: str, recent: float, base: float) -> float:
    """How much worse than its baseline a metric is, relative (0 when not worse)."""
    scale = max(abs(base), 1e-3 if metric != "bid_latency_ms" else 1.0)
    delta = (base - recent) if metric in LOWER_IS_WORSE else (recent - base)
    if metric in ("error_rate", "timeout_rate", "ivt_rate", "floor_reject_rate"):
        return max(0.0, delta)  # rates: absolute points, a zero baseline is normal
    return max(0.0, delta / scale)


class EntityInput(ToolInput):
    entity_type: EntityType = "exchange"
    entity_id: str = Field(default="exchange", min_length=1, max_length=200)


class Deviation(ToolOutput):
    deviations: dict[str, dict[str, float]]
    status: Literal["healthy", "degraded", "unhealthy"]


@register
class HealthCheck(Tool):
    name = "health_check"
    description = "Every metric of one entity against its baseline, and a health status."
    Input = EntityInput
    Output = Deviation

    def run(self, ctx: ToolContext, args: ToolInput) -> Deviation:
        assert isinstance(args, EntityInput)
        _known(ctx, args.entity_type, args.entity_id)
        out: dict[str, dict[str, float]] = {}
        worst = 0.0
        for metric in HEALTH_METRICS:
            if ctx.metrics.recent(args.entity_type, args.entity_id, metric) is None:
                continue
            recent, base = ctx.deviation(args.entity_type, args.entity_id, metric)
            bad = _badness(metric, recent, base)
            out[metric] = {"recent": round(recent, 4), "baseline": round(base, 4), "worse": bad}
            worst = max(worst, bad)
        status: Literal["healthy", "degraded", "unhealthy"] = (
            "unhealthy" if worst >= 0.3 else "degraded" if worst >= 0.1 else "healthy"
        )
        return Deviation(
            summary=f"{args.entity_type} {args.entity_id} {status} (worst deviation {worst:.2f})",
            deviations=out,
            status=status,
        )


class CorrelationInput(EntityInput):
    minutes: int = Field(default=30, ge=5, le=240)


class CorrelationOutput(ToolOutput):
    pairs: list[tuple[str, str, float]]


@register
class MetricCorrelation(Tool):
    name = "metric_correlation"
    description = "Pearson correlation of an entity's metrics over the last minutes."
    Input = CorrelationInput
    Output = CorrelationOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> CorrelationOutput:
        assert isinstance(args, CorrelationInput)
        _known(ctx, args.entity_type, args.entity_id)
        end = (ctx.metrics.last or ctx.ref) + timedelta(minutes=1)
        start = end - timedelta(minutes=args.minutes)
        series = {
            m: np.array(ctx.metrics.values(args.entity_type, args.entity_id, m, start, end))
            for m in HEALTH_METRICS
        }
        series = {m: v for m, v in series.items() if len(v) >= 5 and float(np.std(v)) > 0}
        names = sorted(series)
        pairs = []
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                n = min(len(series[a]), len(series[b]))
                r = float(np.corrcoef(series[a][-n:], series[b][-n:])[0, 1])
                if np.isfinite(r) and abs(r) >= 0.6:
                    pairs.append((a, b, round(r, 3)))
        pairs.sort(key=lambda p: -abs(p[2]))
        top = ", ".join(f"{a}~{b} {r:+.2f}" for a, b, r in pairs[:3]) or "none strong"
        return CorrelationOutput(summary=f"correlated metrics: {top}", pairs=pairs[:20])


class PartnerRow(ToolOutput):
    partner: str
    status: Literal["healthy", "slow", "failing"]
    error_rate: float
    timeout_rate: float
    latency_ms: float
    baseline_latency_ms: float


class PartnersOutput(ToolOutput):
    partners: list[PartnerRow]
    worst: str | None


@register
class PartnerHealth(Tool):
    name = "partner_health"
    description = "Every demand partner's error rate, timeouts and latency against baseline."
    Output = PartnersOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> PartnersOutput:
        rows = []
        state = ctx.state()
        for name in ctx.world.partner_names():
            if state.weight(name) == 0.0:
                continue  # no traffic goes there: nothing to measure
            err, err0 = ctx.deviation("partner", name, "error_rate")
            tmo, tmo0 = ctx.deviation("partner", name, "timeout_rate")
            lat, lat0 = ctx.deviation("partner", name, "bid_latency_ms")
            status: Literal["healthy", "slow", "failing"] = "healthy"
            if err - err0 >= 0.3:
                status = "failing"
            elif tmo - tmo0 >= 0.2 or lat >= 2.0 * max(lat0, 1.0):
                status = "slow"
            rows.append(
                PartnerRow(
                    summary=f"{name} {status}",
                    partner=name,
                    status=status,
                    error_rate=round(err, 4),
                    timeout_rate=round(tmo, 4),
                    latency_ms=round(lat, 1),
                    baseline_latency_ms=round(lat0, 1),
                )
            )
        bad = [r for r in rows if r.status != "healthy"]
        bad.sort(key=lambda r: -(r.error_rate + r.timeout_rate))
        worst = bad[0].partner if bad else None
        text = ", ".join(r.summary for r in bad) or "all partners healthy"
        return PartnersOutput(summary=text, partners=rows, worst=worst)


class TraceInput(ToolInput):
    publisher_id: str | None = Field(default=None, max_length=200)


class TraceOutput(ToolOutput):
    total_ms: float
    cache_overhead_ms: float
    partner_wait_ms: float
    baseline_total_ms: float
    slowest_partners: list[tuple[str, float]]


@register
class RequestTrace(Tool):
    name = "request_trace"
    description = (
        "Breaks a bid request's latency into cache lookup overhead and waiting for partners."
    )
    Input = TraceInput
    Output = TraceOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> TraceOutput:
        assert isinstance(args, TraceInput)
        etype, eid = (
            ("publisher", args.publisher_id) if args.publisher_id else ("exchange", "exchange")
        )
        _known(ctx, etype, eid)
        total, base = ctx.deviation(etype, eid, "bid_latency_ms")
        hit, _ = ctx.deviation(etype, eid, "cache_hit_rate")
        overhead = hit * OVERHEAD_HIT_MS + (1.0 - hit) * OVERHEAD_MISS_MS
        slow = sorted(
            (
                (p, round(ctx.deviation("partner", p, "bid_latency_ms")[0], 1))
                for p in ctx.world.partner_names()
                if ctx.state().weight(p) > 0
            ),
            key=lambda x: -x[1],
        )[:3]
        return TraceOutput(
            summary=f"{total:.0f} ms per request (baseline {base:.0f}): cache {overhead:.0f} ms, "
            f"partners {max(0.0, total - overhead):.0f} ms; slowest {slow[0][0] if slow else '-'}",
            total_ms=round(total, 1),
            cache_overhead_ms=round(overhead, 1),
            partner_wait_ms=round(max(0.0, total - overhead), 1),
            baseline_total_ms=round(base, 1),
            slowest_partners=slow,
        )


class LogInput(ToolInput):
    minutes: int = Field(default=5, ge=1, le=60)


class LogPattern(ToolOutput):
    pattern: str
    per_min: float
    baseline_per_min: float
    ratio: float


class LogOutput(ToolOutput):
    anomalous: list[LogPattern]


@register
class LogPatterns(Tool):
    name = "log_patterns"
    description = (
        "Counts the exchange's log patterns (call failed, timeout, rejected, blocked, below "
        "floor, cache miss) per minute against baseline; lists those more than doubled."
    )
    Input = LogInput
    Output = LogOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> LogOutput:
        assert isinstance(args, LogInput)
        end = (ctx.metrics.last or ctx.ref) + timedelta(minutes=1)
        now_span = (end - timedelta(minutes=args.minutes), end)
        b_end = ctx.ref - timedelta(minutes=15)
        base_span = (b_end - timedelta(minutes=60), b_end)

        def per_min(span: tuple[Any, Any]) -> dict[str, float]:
            v = ctx.metrics.values
            req = v("exchange", "exchange", "requests", *span)
            n = max(1, len(req))
            calls_failed = 0.0
            for p in ctx.world.partner_names():
                calls = v("partner", p, "requests", *span)
                errs = v("partner", p, "error_rate", *span)
                calls_failed += sum(c * e for c, e in zip(calls, errs, strict=False))
            hits = v("exchange", "exchange", "cache_hit_rate", *span)
            floor = v("exchange", "exchange", "floor_reject_rate", *span)
            bids = v("exchange", "exchange", "bids", *span)
            return {
                "partner call failed": calls_failed / n,
                "partner timeout": sum(v("exchange", "exchange", "partner_timeouts", *span)) / n,
                "request rejected: no capacity": sum(v("exchange", "exchange", "rejected", *span))
                / n,
                "request blocked: traffic source": sum(v("exchange", "exchange", "blocked", *span))
                / n,
                "auction lost to floor": sum(f * b / 3 for f, b in zip(floor, bids, strict=False))
                / n,
                "cache miss": sum((1 - h) * r for h, r in zip(hits, req, strict=False)) / n,
            }

        now, base = per_min(now_span), per_min(base_span)
        found = []
        for pattern, rate in now.items():
            ratio = rate / max(base[pattern], 1.0)
            if ratio >= 2.0 and rate >= 5.0:
                found.append(
                    LogPattern(
                        summary=f"{pattern}: {rate:.0f}/min (x{ratio:.1f})",
                        pattern=pattern,
                        per_min=round(rate, 1),
                        baseline_per_min=round(base[pattern], 1),
                        ratio=round(ratio, 2),
                    )
                )
        found.sort(key=lambda p: -p.ratio)
        text = "; ".join(p.summary for p in found) or "no anomalous log pattern"
        return LogOutput(summary=text, anomalous=found)


class TrendInput(EntityInput):
    metric: Literal[
        "rpm", "fill_rate", "bid_latency_ms", "error_rate", "requests", "cache_hit_rate"
    ] = "rpm"
    horizon_minutes: int = Field(default=30, ge=1, le=240)


class TrendOutput(ToolOutput):
    slope_per_min: float
    now: float
    projected: float


@register
class PredictiveTrend(Tool):
    name = "predictive_trend"
    description = "Linear trend of a metric over the last 30 minutes, projected ahead."
    Input = TrendInput
    Output = TrendOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> TrendOutput:
        assert isinstance(args, TrendInput)
        _known(ctx, args.entity_type, args.entity_id)
        end = (ctx.metrics.last or ctx.ref) + timedelta(minutes=1)
        ys = ctx.metrics.values(
            args.entity_type, args.entity_id, args.metric, end - timedelta(minutes=30), end
        )
        if len(ys) < 5:
            raise ToolError("not enough points for a trend (need 5 minutes)")
        xs = np.arange(len(ys), dtype=float)
        slope, intercept = np.polyfit(xs, np.array(ys), 1)
        now = float(intercept + slope * xs[-1])
        projected = now + float(slope) * args.horizon_minutes
        return TrendOutput(
            summary=f"{args.metric} {now:.3f} now, {projected:.3f} in {args.horizon_minutes} min",
            slope_per_min=round(float(slope), 6),
            now=round(now, 4),
            projected=round(projected, 4),
        )


class BidOutput(ToolOutput):
    bid_rate_drop: dict[str, float]
    floor_rejects: dict[str, float]


@register
class BidResponseAnalysis(Tool):
    name = "bid_response_analysis"
    description = (
        "Bids per call of each partner and auctions lost to the floor per ad unit, vs baseline."
    )
    Output = BidOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> BidOutput:
        drops: dict[str, float] = {}
        for p in ctx.world.partner_names():
            if ctx.state().weight(p) == 0.0:
                continue
            bids, bids0 = ctx.deviation("partner", p, "bids")
            calls, calls0 = ctx.deviation("partner", p, "requests")
            rate, rate0 = bids / max(calls, 1.0), bids0 / max(calls0, 1.0)
            if rate0 > 0 and rate < 0.7 * rate0:
                drops[p] = round(1.0 - rate / rate0, 3)
        rejects: dict[str, float] = {}
        for unit in ctx.metrics.entities("ad_unit"):
            rej, rej0 = ctx.deviation("ad_unit", unit, "floor_reject_rate")
            if rej - rej0 >= 0.3:
                rejects[unit] = round(rej, 3)
        text = (
            f"bid rate down at {', '.join(drops) or 'no partner'}; "
            f"floor rejections up at {', '.join(rejects) or 'no ad unit'}"
        )
        return BidOutput(summary=text, bid_rate_drop=drops, floor_rejects=rejects)


class RevenueInput(EntityInput):
    minutes: int = Field(default=15, ge=1, le=240)


class RevenueOutput(ToolOutput):
    rpm_now: float
    rpm_baseline: float
    lost_eur_per_hour: float


@register
class RevenueImpact(Tool):
    name = "revenue_impact"
    description = "Revenue lost per hour by an entity against its baseline RPM."
    Input = RevenueInput
    Output = RevenueOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> RevenueOutput:
        assert isinstance(args, RevenueInput)
        _known(ctx, args.entity_type, args.entity_id)
        rpm, rpm0 = ctx.deviation(args.entity_type, args.entity_id, "rpm")
        req, _ = ctx.deviation(args.entity_type, args.entity_id, "requests")
        lost = max(0.0, rpm0 - rpm) * req / 1000.0 * 60.0
        return RevenueOutput(
            summary=f"RPM {rpm:.3f} vs {rpm0:.3f}: about EUR {lost:.2f} lost per hour",
            rpm_now=round(rpm, 4),
            rpm_baseline=round(rpm0, 4),
            lost_eur_per_hour=round(lost, 3),
        )


class PeerInput(ToolInput):
    publisher_id: str = Field(min_length=1, max_length=200)
    minutes: int = Field(default=10, ge=1, le=60, description="minutes averaged for 'now'")


class PeerOutput(ToolOutput):
    rpm_now: float
    rpm_baseline: float
    change_pct: float
    peers: int
    peers_median_change_pct: float
    gap_pct: float


@register
class PeerComparison(Tool):
    name = "peer_comparison"
    description = (
        "A publisher's RPM change against its baseline beside the median change of every other "
        "publisher over the same minutes: a drop the peers do not share is the publisher's own."
    )
    Input = PeerInput
    Output = PeerOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> PeerOutput:
        assert isinstance(args, PeerInput)
        _known(ctx, "publisher", args.publisher_id)

        def change(pub: str) -> tuple[float, float, float] | None:
            base = ctx.metrics.baseline("publisher", pub, "rpm", ctx.ref)
            now = ctx.metrics.recent("publisher", pub, "rpm", minutes=args.minutes)
            if base is None or now is None or base <= 0:
                return None
            return now, base, 100.0 * (now / base - 1.0)

        own = change(args.publisher_id)
        if own is None:
            raise ToolError(f"no RPM baseline for publisher {args.publisher_id!r}")
        peers = [
            c[2]
            for pub in ctx.metrics.entities("publisher")
            if pub != args.publisher_id and (c := change(pub)) is not None
        ]
        median = float(np.median(peers)) if peers else 0.0
        now, base, pct = own
        return PeerOutput(
            summary=f"{args.publisher_id} RPM {now:.3f} vs {base:.3f} baseline ({pct:+.0f}%); "
            f"its {len(peers)} peers moved {median:+.0f}% (median)",
            rpm_now=round(now, 4),
            rpm_baseline=round(base, 4),
            change_pct=round(pct, 1),
            peers=len(peers),
            peers_median_change_pct=round(median, 1),
            gap_pct=round(pct - median, 1),
        )


class DiffInput(ToolInput):
    from_version: int | None = Field(default=None, ge=0)
    to_version: int | None = Field(default=None, ge=0)


class DiffOutput(ToolOutput):
    from_version: int
    to_version: int
    changed: dict[str, dict[str, Any]]
    actors: list[str]


@register
class ConfigDiff(Tool):
    name = "config_diff"
    description = (
        "What changed in the control plane between two versions (default: the version of an "
        "hour before the incident and now), and who changed it."
    )
    Input = DiffInput
    Output = DiffOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> DiffOutput:
        assert isinstance(args, DiffInput)
        history = {v.version: v for v in ctx.plane.history(500)}
        current = ctx.plane.current()
        if args.from_version is not None and args.from_version not in history:
            raise ToolError(f"no control-plane version {args.from_version}")
        if args.to_version is not None and args.to_version not in history:
            raise ToolError(f"no control-plane version {args.to_version}")
        old = (
            history[args.from_version]
            if args.from_version is not None
            else ctx.plane.as_of(ctx.ref - timedelta(minutes=60))
        )
        new = history[args.to_version] if args.to_version is not None else current
        a, b = old.state.model_dump(mode="json"), new.state.model_dump(mode="json")
        changed: dict[str, dict[str, Any]] = {}
        for knob in b:
            if isinstance(b[knob], dict) and knob != "cache_policy":
                keys = set(a[knob]) | set(b[knob])
                diff = {
                    k: [a[knob].get(k), b[knob].get(k)]
                    for k in keys
                    if a[knob].get(k) != b[knob].get(k)
                }
                if diff:
                    changed[knob] = diff
            elif a[knob] != b[knob]:
                changed[knob] = {"value": [a[knob], b[knob]]}
        actors = sorted(
            {v.actor for v in history.values() if old.version < v.version <= new.version}
        )
        text = ", ".join(f"{k} ({len(v)})" for k, v in changed.items()) or "no change"
        return DiffOutput(
            summary=f"v{old.version} -> v{new.version}: {text}",
            from_version=old.version,
            to_version=new.version,
            changed=changed,
            actors=actors,
        )


class QualityOutput(ToolOutput):
    suspicious: dict[str, float]
    blocked_sources: list[str]


@register
class TrafficQuality(Tool):
    name = "traffic_quality"
    description = "Invalid-traffic share of each publisher against baseline; blocked sources."
    Output = QualityOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> QualityOutput:
        found = {}
        for pub in ctx.metrics.entities("publisher"):
            ivt, ivt0 = ctx.deviation("publisher", pub, "ivt_rate")
            if ivt - ivt0 >= 0.15:
                found[pub] = round(ivt, 3)
        blocked = list(ctx.state().blocked_sources)
        text = f"invalid traffic at {', '.join(found) or 'no publisher'}; blocked: {blocked or '-'}"
        return QualityOutput(summary=text, suspicious=found, blocked_sources=blocked)


class CapacityOutput(ToolOutput):
    utilisation: float
    rejected_share: float
    units: int
    recommended_units: int


@register
class CapacityCheck(Tool):
    name = "capacity_check"
    description = "Serving pool utilisation, rejected requests and the units it needs."
    Output = CapacityOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> CapacityOutput:
        # the busiest of the last three minutes: a fault that began a minute ago is not yet in
        # a three-minute mean, and a pool sized on it would be too small
        last = ctx.metrics.last or ctx.ref
        window = (last - timedelta(minutes=2), last + timedelta(minutes=1))
        utils = ctx.metrics.values("exchange", "exchange", "capacity_utilisation", *window)
        errs = ctx.metrics.values("exchange", "exchange", "error_rate", *window)
        util, err = max(utils, default=0.0), max(errs, default=0.0)
        units = ctx.state().capacity_units
        # utilisation counts every admitted request, the rejected ones too: it is the demand
        need = max(units, int(np.ceil(units * util / 0.75)))
        return CapacityOutput(
            summary=f"utilisation {util:.0%}, {err:.0%} rejected: {units} units, need {need}",
            utilisation=round(util, 3),
            rejected_share=round(err, 3),
            units=units,
            recommended_units=need,
        )


class CacheOutput(ToolOutput):
    hit_rate: float
    baseline_hit_rate: float
    mode: str
    ttl_s: int


@register
class CacheStats(Tool):
    name = "cache_stats"
    description = "Identity cache hit rate against baseline, with the pool and TTL in use."
    Output = CacheOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> CacheOutput:
        hit, hit0 = ctx.deviation("exchange", "exchange", "cache_hit_rate")
        policy = ctx.state().cache_policy
        return CacheOutput(
            summary=f"cache hit rate {hit:.0%} (baseline {hit0:.0%}), {policy.mode} pool",
            hit_rate=round(hit, 4),
            baseline_hit_rate=round(hit0, 4),
            mode=policy.mode,
            ttl_s=policy.ttl_s,
        )


class UnitOutput(ToolOutput):
    floor: float
    default_floor: float
    size: str
    declared_size: str
    misconfigured: bool


@register
class AdUnitInspect(Tool):
    name = "ad_unit_inspect"
    description = "An ad unit's floor and size in the control plane against its own settings."
    Input = UnitInput
    Output = UnitOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> UnitOutput:
        assert isinstance(args, UnitInput)
        unit = find_unit(ctx, args.ad_unit_id)
        state = ctx.state()
        floor = state.floors.get(unit.ad_unit_id, unit.default_floor)
        size = state.ad_unit_sizes.get(unit.ad_unit_id, unit.size)
        bad = size != unit.size or floor > 3.0 * unit.default_floor + 0.5
        return UnitOutput(
            summary=f"{unit.ad_unit_id}: floor {floor:.2f} (own {unit.default_floor:.2f}), "
            f"size {size} (own {unit.size})",
            floor=floor,
            default_floor=unit.default_floor,
            size=size,
            declared_size=unit.size,
            misconfigured=bad,
        )


class FlagsOutput(ToolOutput):
    flags: dict[str, bool]
    changed_from_default: list[str]


@register
class FeatureFlags(Tool):
    name = "feature_flags"
    description = "The exchange's feature flags and which differ from their defaults."
    Output = FlagsOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> FlagsOutput:
        state = ctx.state()
        flags = {name: state.flag(name) for name in FEATURE_FLAGS}
        changed = [n for n, v in flags.items() if v != FEATURE_FLAGS[n]]
        return FlagsOutput(
            summary=f"flags changed from default: {', '.join(changed) or 'none'}",
            flags=flags,
            changed_from_default=changed,
        )
