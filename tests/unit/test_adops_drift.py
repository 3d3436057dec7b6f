"""The stream detector's drift test (CUSUM) and the exchange's operator metrics it watches."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np

from ssmas.adops.stream import StreamDetector, StreamDetectorConfig, StreamProcessor
from ssmas.exchange.control_plane import MemoryControlPlane
from ssmas.exchange.faults import entities_of, make_fault
from ssmas.exchange.live import LiveExchange
from ssmas.exchange.metrics import AD_UNIT_MIN_SHARE
from ssmas.exchange.world import build_world

T0 = datetime(2024, 10, 22, tzinfo=UTC)
ON = StreamDetectorConfig(cusum_h=20.0)  # the drift test is off by default


def _drifting(n_normal: int, n_drift: int, seed: int = 3) -> np.ndarray:
    """A noisy level (2% noise) then a slow decline of 1% of the level a minute."""
    rng = np.random.default_rng(seed)
    base = 1.0 + 0.02 * rng.standard_normal(n_normal + n_drift)
    base[n_normal:] *= 1.0 - 0.01 * np.arange(1, n_drift + 1)
    return base


def _scores(detector: StreamDetector, values: np.ndarray) -> list[float]:
    return [float(detector.step(np.array([0]), np.array([v]))[0][0]) for v in values]


def test_a_slow_drift_is_seen_earlier_on_a_drift_series() -> None:
    values = _drifting(300, 30)
    plain, watched = StreamDetector(ON), StreamDetector(ON)
    plain.grow(1)
    watched.grow(1, drift=True)
    s_plain, s_watched = _scores(plain, values), _scores(watched, values)
    assert max(s_watched[:300]) < 0.5  # no alarm on noise
    first_watched = next(i for i, s in enumerate(s_watched[300:]) if s >= 0.5)
    first_plain = next((i for i, s in enumerate(s_plain[300:]) if s >= 0.5), 30)
    assert first_watched < first_plain


def test_cusum_off_leaves_the_z_score_alone() -> None:
    values = _drifting(300, 30)
    off = StreamDetector()
    plain = StreamDetector(StreamDetectorConfig(cusum_h=20.0, clip=3.0))
    off.grow(1, drift=True)
    plain.grow(1)
    assert _scores(off, values) == _scores(plain, values)


def test_the_drift_state_round_trips_and_old_checkpoints_load() -> None:
    values = _drifting(300, 15)
    detector = StreamDetector(ON)
    detector.grow(1, drift=True)
    _scores(detector, values)
    copy = StreamDetector.from_bytes(detector.to_bytes())
    assert copy.drift.tolist() == [True]
    assert copy.cusum_down[0] == detector.cusum_down[0] > 0
    # a checkpoint written before the drift test existed: no drift arrays in the archive
    with np.load(io.BytesIO(detector.to_bytes()), allow_pickle=False) as archive:
        kept = {
            k: archive[k] for k in archive.files if k not in ("drift", "cusum_up", "cusum_down")
        }
    buffer = io.BytesIO()
    np.savez(buffer, **kept)
    old = StreamDetector.from_bytes(buffer.getvalue())
    assert old.drift.tolist() == [False] and old.cusum_up.tolist() == [0.0]
    old.grow(2, drift=True)
    assert old.step(np.array([0, 1]), np.array([1.0, 1.0]))[0].shape == (2,)


def test_posted_series_are_not_drift_watched_but_exchange_ratios_are() -> None:
    processor = StreamProcessor()
    processor.ingest_points("cpu", [(T0.isoformat(), 1.0)])
    processor.ingest_exchange(
        [
            {
                "ts": T0.isoformat(),
                "entity_type": "publisher",
                "entity_id": "pub-001",
                "requests": 10,
                "rpm": 1.0,
            }
        ]
    )
    drift = {k: bool(processor.detector.drift[i]) for k, i in processor.index.items()}
    assert drift == {
        "series/cpu/value": False,
        "publisher/pub-001/requests": False,
        "publisher/pub-001/rpm": True,
    }


def _minute(live: LiveExchange) -> list[dict[str, object]]:
    return live.step()[1]


def test_operator_metrics_show_the_faults_the_lake_metrics_dilute() -> None:
    world = build_world(7)
    unit = entities_of(world, "ad_unit")[0]
    publisher = entities_of(world, "publisher")[3]
    at = T0 + timedelta(hours=12)
    faults = [
        make_fault(world, "floor_too_high", start=at + timedelta(minutes=5), entity=unit),
        make_fault(
            world, "invalid_traffic_surge", start=at + timedelta(minutes=5), entity=publisher
        ),
        make_fault(world, "capacity_saturation", start=at + timedelta(minutes=5)),
    ]
    live = LiveExchange(
        world,
        MemoryControlPlane(world),
        start=at,
        faults=lambda now: [
            f for f in faults if f.start - timedelta(days=1) <= now < f.end + timedelta(minutes=1)
        ],
    )
    before = [p for _ in range(3) for p in _minute(live)]
    for _ in range(4):
        _minute(live)
    after = [p for _ in range(3) for p in _minute(live)]

    def mean(points: list[dict[str, object]], etype: str, eid: str, metric: str) -> float:
        values = [
            float(p[metric])  # type: ignore[arg-type]
            for p in points
            if p["entity_type"] == etype and p["entity_id"] == eid
        ]
        return sum(values) / len(values)

    units = {p["entity_id"] for p in before if p["entity_type"] == "ad_unit"}
    big = {u.ad_unit_id for u in world.ad_units if u.share >= AD_UNIT_MIN_SHARE}
    assert units == big and unit in units
    assert mean(after, "ad_unit", unit, "floor_reject_rate") > 0.9
    assert mean(after, "ad_unit", unit, "fill_rate") < 0.5 * mean(
        before, "ad_unit", unit, "fill_rate"
    )
    assert mean(before, "publisher", publisher, "ivt_rate") == 0.0
    assert mean(after, "publisher", publisher, "ivt_rate") > 0.5
    util_before = mean(before, "exchange", "exchange", "capacity_utilisation")
    assert mean(after, "exchange", "exchange", "capacity_utilisation") > 3.0 * util_before
    exchange = next(p for p in after if p["entity_type"] == "exchange")
    assert {"ivt_rate", "floor_reject_rate", "capacity_utilisation"} <= set(exchange)
    partner = next(p for p in after if p["entity_type"] == "partner")
    assert "capacity_utilisation" not in partner and "ivt_rate" not in partner
