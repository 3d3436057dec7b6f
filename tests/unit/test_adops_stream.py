"""The stream job's pure parts: online detector, windows, composite rules, checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from ssmas.adops.stream import (
    CompositeRuleError,
    StreamDetector,
    StreamProcessor,
    default_rules,
    parse_rules,
)

T0 = datetime(2024, 10, 22, tzinfo=UTC)


def _points(values: list[float], entity: str = "pub-001") -> list[dict[str, Any]]:
    return [
        {
            "ts": (T0 + timedelta(minutes=i)).isoformat(),
            "entity_type": "publisher",
            "entity_id": entity,
            "rpm": v,
            "fill_rate": 0.6,
        }
        for i, v in enumerate(values)
    ]


def _noisy(n: int, seed: int = 0) -> list[float]:
    return list(1.0 + 0.02 * np.random.default_rng(seed).standard_normal(n))


@pytest.mark.parametrize(
    "values",
    [[5.0] * 300, [1.0, 2.0, 3.0], [float("nan")] * 50, [], [float("inf"), 1.0, float("nan")]],
    ids=["constant", "three points", "all NaN", "empty", "inf and NaN"],
)
def test_degenerate_series_score_zero(values: list[float]) -> None:
    detector = StreamDetector()
    detector.grow(1)
    scores = [detector.step(np.array([0]), np.array([v]))[0][0] for v in values]
    assert all(s == 0.0 for s in scores)


def test_a_level_drop_scores_above_half_within_two_windows() -> None:
    detector = StreamDetector()
    detector.grow(1)
    values = _noisy(200) + [0.3] * 10
    scores = [float(detector.step(np.array([0]), np.array([v]))[0][0]) for v in values]
    assert max(scores[:200]) < 0.5
    assert max(scores[200:210]) >= 0.5


def test_state_round_trips_and_continues_identically() -> None:
    a = StreamProcessor()
    a.ingest_exchange(_points(_noisy(120)))
    b = StreamProcessor.from_bytes(a.to_bytes())
    tail = _points(_noisy(120, seed=1) + [0.2] * 10)[100:]
    tail = [{**p, "ts": (T0 + timedelta(minutes=200 + i)).isoformat()} for i, p in enumerate(tail)]
    alerts_a = a.ingest_exchange(tail)
    alerts_b = b.ingest_exchange(tail)
    assert alerts_a == alerts_b
    assert alerts_a and alerts_a[0].metrics.keys() == {"rpm"}


def test_a_point_seen_twice_changes_nothing() -> None:
    processor = StreamProcessor()
    points = _points(_noisy(100) + [0.1] * 5)
    first = processor.ingest_exchange(points)
    again = processor.ingest_exchange(points)
    assert first and again == []
    assert processor.stats.late == len(points) * 2  # rpm and fill_rate of every point


def test_malformed_messages_are_counted_not_raised() -> None:
    processor = StreamProcessor()
    bad: list[dict[str, Any]] = [
        {},
        {"entity_type": "publisher"},
        {"entity_type": "publisher", "entity_id": "p", "ts": "yesterday"},
        {"entity_type": "publisher", "entity_id": "p", "ts": T0.isoformat(), "rpm": "a lot"},
    ]
    assert processor.ingest_exchange(bad) == []
    assert processor.stats.invalid == 3
    history = processor.series_history("publisher/p/rpm")
    assert history is not None and np.isnan(history["value"][0])


def test_posted_points_are_averaged_per_minute_and_close_on_a_later_minute() -> None:
    processor = StreamProcessor()
    at = T0 + timedelta(seconds=5)
    processor.ingest_points("cpu", [(at, 1.0), (at + timedelta(seconds=20), 3.0)])
    assert processor.series_history("series/cpu/value") == {"ts": [], "value": [], "score": []}
    processor.ingest_points("cpu", [(at + timedelta(minutes=3), 10.0)])  # a gap of two minutes
    history = processor.series_history("series/cpu/value")
    assert history is not None and history["value"] == [2.0]
    processor.ingest_points("cpu", [(at, 99.0)])  # late: that minute is closed
    assert processor.stats.late == 1
    processor.flush()
    assert processor.series_history("series/cpu/value")["value"] == [2.0, 10.0]  # type: ignore[index]


def test_posted_series_with_a_drop_alerts() -> None:
    processor = StreamProcessor()
    values = _noisy(150) + [5.0] * 6
    pairs = [(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]
    alerts = processor.ingest_points("orders", pairs) + processor.flush()
    assert alerts and alerts[0].entity_type == "series" and alerts[0].entity_id == "orders"


def test_default_rules_are_the_seeds_and_classify() -> None:
    rules = default_rules()
    assert [r.name for r in rules.rules] == ["DEMAND_ISSUE", "LATENCY_ISSUE", "PRICING_ISSUE"]
    means = {"rpm": 12.0, "fill_rate": 0.5, "bid_latency_ms": 250.0}
    assert rules.classify({"fill_rate": 0.9}, means) == "DEMAND_ISSUE"
    assert rules.classify({"bid_latency_ms": 0.9}, {**means, "bid_latency_ms": 4000.0}) == (
        "LATENCY_ISSUE"
    )
    assert rules.classify({"rpm": 0.9}, {**means, "fill_rate": 0.95}) == "PRICING_ISSUE"
    assert rules.classify({"cache_hit_rate": 0.9}, means) == "UNKNOWN"
    assert rules.severity_of({"rpm": 0.6, "fill_rate": 0.6, "error_rate": 0.6}) == "critical"
    assert rules.severity_of({"rpm": 0.6}) == "medium"
    assert rules.severity_of({"rpm": 0.9}) == "high"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "invalid YAML"),
        ("- a list", "a rule file is a mapping"),
        ("rules:\n  - name: X\n    when: {cpu: '< 3'}", "unknown metric 'cpu'"),
        ("rules:\n  - name: X\n    when: {rpm: 'below 3'}", "is not like"),
        ("rules:\n  - name: lower\n    when: {rpm: '< 3'}", "rules.0.name"),
        ("severity: {critical_over_metrics: 0}", "severity.critical_over_metrics"),
        ("rules: []\nextra: 1", "extra"),
    ],
)
def test_invalid_rule_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(CompositeRuleError, match=message):
        parse_rules(text)
