"""The live trial's plan: every kind the simulator injects, dealt into independent segments."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from ssmas.adops.live_trial import FaultOutcome, TrialReport, merge_reports, plan_segments
from ssmas.exchange.faults import FAULT_KINDS, make_fault
from ssmas.exchange.world import build_world


def test_segments_hold_per_kind_faults_of_every_kind_on_distinct_worlds() -> None:
    segments = plan_segments(1009, 30, 8)
    assert len(segments) == 8
    counts = Counter(k for s in segments for k in s.kinds)
    assert counts == {kind: 30 for kind in FAULT_KINDS}
    sizes = [len(s.kinds) for s in segments]
    assert max(sizes) - min(sizes) <= 1
    seeds = [s.seed for s in segments]
    assert len(set(seeds)) == 8 and not {7, 11} & set(seeds)  # the tests' worlds
    assert plan_segments(1009, 30, 8) == segments  # a seed gives one plan
    assert len(plan_segments(5, 1, 100)) == len(FAULT_KINDS)  # never an empty segment


def test_merged_reports_add_up_faults_incidents_and_days() -> None:
    world = build_world(7)

    def outcome(kind: str, incidents: int, delay: float | None) -> FaultOutcome:
        fault = make_fault(world, kind, start=datetime(2024, 10, 22, tzinfo=UTC), minutes=30)
        return FaultOutcome(fault, [f"inc-{i}" for i in range(incidents)], delay)

    a = TrialReport([outcome("partner_outage", 1, 0.0)], 2, 1, 1.0, 10, 100, false_keys=["x"])
    b = TrialReport([outcome("rpm_decay", 0, None)], 0, 0, 1.5, 5, 50)
    merged = merge_reports([a, b])
    assert merged.detect_within_2_windows_pct == 50.0
    assert merged.incident_per_fault == 0.5
    assert merged.false_incidents_per_day == 1 / 2.5
    assert merged.by_kind["partner_outage"]["detected_pct"] == 100.0
    assert merged.by_kind["rpm_decay"]["incidents_per_fault"] == 0.0
    assert merged.false_keys == ["x"]
