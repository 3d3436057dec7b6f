"""The ratio test: a publisher's RPM against the network's (``ssmas.adops.stream.peers``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from ssmas.adops.stream import StreamDetectorConfig, StreamProcessor
from ssmas.adops.stream.peers import PeerRatioTest

T0 = datetime(2024, 10, 22, tzinfo=UTC)
PUBLISHERS = [f"pub-{i:03d}" for i in range(1, 21)]


def _minutes(
    count: int, *, decay_from: int | None = None, slump_from: int | None = None, seed: int = 5
) -> list[tuple[float, dict[str, float], dict[str, float]]]:
    """``count`` minutes of a network: every publisher's RPM follows one daily swing, with
    noise that shrinks with its requests; from ``decay_from`` pub-001 loses 2% a minute, from
    ``slump_from`` every publisher loses half its RPM at once."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(count):
        swing = 2.0 + np.sin(2 * np.pi * t / 1440.0)
        rpm: dict[str, float] = {}
        requests: dict[str, float] = {}
        for k, pub in enumerate(PUBLISHERS):
            n = float(rng.poisson(200 + 40 * k))
            level = swing * (1.0 + 0.05 * k)
            if decay_from is not None and pub == "pub-001" and t >= decay_from:
                level *= max(0.1, 1.0 - 0.02 * (t - decay_from))
            if slump_from is not None and t >= slump_from:
                level *= 0.5
            rpm[pub] = float(level * np.exp(rng.normal(0.0, 1.2 / np.sqrt(n))))
            requests[pub] = n
        total = sum(requests.values())
        network = sum(rpm[p] * requests[p] for p in PUBLISHERS) / total
        out.append((network, rpm, requests))
    return out


def _first_alarm(test: PeerRatioTest, minutes: list[Any], after: int = 0) -> dict[str, int]:
    first: dict[str, int] = {}
    for t, (network, rpm, requests) in enumerate(minutes):
        for anomaly in test.step(network, rpm, requests):
            if t >= after:
                first.setdefault(anomaly.entity_id, t)
    return first


def test_a_slow_decay_of_one_publisher_is_seen_within_three_windows() -> None:
    # 2% a minute: a quarter of the RPM gone after 15 minutes
    first = _first_alarm(PeerRatioTest(), _minutes(600, decay_from=500))
    assert set(first) == {"pub-001"}  # nobody else, never before the decay
    assert 500 <= first["pub-001"] <= 515


def test_a_move_every_publisher_shares_is_not_one_publishers_problem() -> None:
    # the daily swing and an exchange-wide slump leave every ratio where it was
    assert _first_alarm(PeerRatioTest(), _minutes(600, slump_from=400)) == {}


def test_an_alarm_does_not_teach_the_baseline_and_a_lasting_level_is_adopted() -> None:
    test = PeerRatioTest(adapt_after=30)
    minutes = _minutes(700, decay_from=500)
    alarms = [t for t, m in enumerate(minutes) for a in test.step(*m) if a.entity_id == "pub-001"]
    # the decay bottoms out at 10% of the level 45 minutes in: alarms until the new level is
    # taken as normal (30 alarm minutes), then silence
    assert alarms[0] >= 500 and 25 <= len(alarms) <= 60
    assert max(alarms) < 600


def test_the_state_round_trips_and_scores_the_same() -> None:
    minutes = _minutes(560, decay_from=500)
    test = PeerRatioTest()
    for m in minutes[:505]:
        test.step(*m)
    copy = PeerRatioTest()
    copy.load(test.to_dict())
    for m in minutes[505:]:
        assert test.step(*m) == copy.step(*m)


def test_gaps_and_bad_values_are_skipped_and_bad_settings_refused() -> None:
    test = PeerRatioTest(warmup=1)
    assert test.step(float("nan"), {"pub-001": 1.0}, {"pub-001": 10.0}) == []
    assert test.step(0.0, {"pub-001": 1.0}, {"pub-001": 10.0}) == []
    for _ in range(30):  # zero revenue, no requests, NaN: gaps, never an alarm or an error
        assert test.step(1.0, {"pub-001": 0.0, "pub-002": float("nan")}, {"pub-001": 0.0}) == []
    assert not PeerRatioTest(threshold=0.0).enabled
    with pytest.raises(ValueError):
        PeerRatioTest(direction="up")
    with pytest.raises(ValueError):
        PeerRatioTest(window=5, lag=3)


def _messages(minutes: list[Any]) -> list[dict[str, Any]]:
    out = []
    for t, (network, rpm, requests) in enumerate(minutes):
        ts = (T0 + timedelta(minutes=t)).isoformat()
        out.append({"ts": ts, "entity_type": "exchange", "entity_id": "exchange", "rpm": network})
        for pub in PUBLISHERS:
            out.append(
                {
                    "ts": ts,
                    "entity_type": "publisher",
                    "entity_id": pub,
                    "rpm": rpm[pub],
                    "requests": requests[pub],
                }
            )
    return out


def test_the_stream_raises_the_publishers_rpm_alert_and_checkpoints_the_test() -> None:
    messages = _messages(_minutes(620, decay_from=500))
    per_minute = len(PUBLISHERS) + 1
    on, off = StreamProcessor(), StreamProcessor(config=StreamDetectorConfig(peer_threshold=0))
    head = messages[: 505 * per_minute]
    on.ingest_exchange(head)
    off.ingest_exchange(head)
    resumed = StreamProcessor.from_bytes(on.to_bytes())
    tail = messages[505 * per_minute :]
    alerts = on.ingest_exchange(tail)
    assert [a.model_dump() for a in resumed.ingest_exchange(tail)] == [
        a.model_dump() for a in alerts
    ]
    decay = [a for a in alerts if a.entity_id == "pub-001" and "rpm" in a.metrics]
    assert decay and decay[0].ts <= T0 + timedelta(minutes=515)
    first = decay[0].metrics["rpm"]
    assert first.z < 0 and first.sliding_mean < first.baseline
    plain = [a for a in off.ingest_exchange(tail) if a.entity_id == "pub-001"]
    assert not plain or plain[0].ts > decay[0].ts  # the per-series detector alone is later


def test_a_units_fill_falling_to_zero_is_seen_on_the_difference_scale() -> None:
    # a unit filling ~30% of ~80 requests a minute, then nothing (a floor no bid reaches):
    # on the log scale a fill of 0 is a gap, on the difference scale it is the signal
    rng = np.random.default_rng(9)
    log_test, diff_test = PeerRatioTest(), PeerRatioTest(scale="difference")
    alarms: dict[str, list[int]] = {"log": [], "difference": []}
    for t in range(400):
        n = float(rng.poisson(80))
        fill = 0.0 if t >= 300 else float(rng.binomial(int(n), 0.3)) / max(n, 1.0)
        network = 0.7 + 0.01 * rng.standard_normal()
        for name, test in (("log", log_test), ("difference", diff_test)):
            if test.step(network, {"pub-009-u3": fill}, {"pub-009-u3": n}):
                alarms[name].append(t)
    assert alarms["log"] == []
    # each minute weighs at most ``clip`` standard errors: within one window of zeros
    assert alarms["difference"] and 300 <= alarms["difference"][0] <= 305
    with pytest.raises(ValueError):
        PeerRatioTest(scale="ratio")


def test_a_checkpoint_of_the_single_publisher_test_still_loads() -> None:
    import json

    messages = _messages(_minutes(200))
    processor = StreamProcessor()
    processor.ingest_exchange(messages)
    data = processor.to_bytes()
    size = int.from_bytes(data[:8], "big")
    body = json.loads(data[8 : 8 + size])
    body["peers"] = body["peers"]["publisher/rpm"]  # the layout before the ad units' test
    head = json.dumps(body).encode()
    old = len(head).to_bytes(8, "big") + head + data[8 + size :]
    restored = StreamProcessor.from_bytes(old)
    assert restored.peers["publisher/rpm"].to_dict() == processor.peers["publisher/rpm"].to_dict()
    assert restored.peers["ad_unit/fill_rate"].ids == []
