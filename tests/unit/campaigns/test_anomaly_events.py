"""Anomalies reach the bus: detection on a batch of campaign metrics with one injected anomaly
publishes an ``AnomalyDetected`` for it on ``campaigns.anomalies`` of the real SQLite bus, a
consumer group (as AdOps' rules would run) reads it, and a retried batch publishes nothing new."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ssmas.campaigns.anomaly import (
    TOPIC_ANOMALIES,
    AnomalyDetected,
    AnomalyInputError,
    detect_anomalies,
    publish_anomalies,
)
from ssmas.core.bus import Bus, open_bus

FEATURES = ["sent", "click_rate", "conversion_rate"]
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture()
def bus(tmp_path: Path) -> Iterator[Bus]:
    opened = open_bus(str(tmp_path / "bus.db"))
    yield opened
    opened.close()


def campaign_metrics() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 300
    base = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "campaign_id": [f"cmp-{i:03d}" for i in range(n)],
            "sent": 20_000 + 2_000 * rng.normal(size=n),
            "click_rate": 0.03 + 0.004 * base + 0.001 * rng.normal(size=n),
            "conversion_rate": 0.01 + 0.0015 * base + 0.0004 * rng.normal(size=n),
        }
    )
    # cmp-123: clicks collapse while conversions stay high (a tracking fault, say)
    frame.loc[123, ["click_rate", "conversion_rate"]] = [0.002, 0.02]
    return frame


def test_an_injected_anomaly_is_published_and_read_by_a_consumer_group(bus: Bus) -> None:
    events = detect_anomalies(
        campaign_metrics(),
        source="campaigns",
        id_column="campaign_id",
        feature_columns=FEATURES,
        threshold=0.97,
        run_id="2026-12-06",
        now=NOW,
    )
    assert events and events[0].entity_id == "cmp-123"
    assert len(events) <= 15  # a handful of rows, not the batch
    top = events[0]
    assert top.severity == "critical" and top.score >= 0.99
    assert set(top.detectors) == {
        "isolation_forest",
        "one_class_svm",
        "local_outlier_factor",
        "autoencoder",
    }
    assert top.metrics["click_rate"] == pytest.approx(0.002)

    ids = publish_anomalies(bus, events)
    assert len(ids) == len(events)
    got = bus.consume(TOPIC_ANOMALIES, "adops-rules", "c1", max_messages=100)
    assert len(got) == len(events)
    first = got[0].message
    assert first.key == "campaigns:cmp-123:2026-12-06"
    event = AnomalyDetected.model_validate(first.payload)
    assert event == top
    assert first.payload["event_type"] == "anomaly_detected"
    bus.ack(got)

    # the same batch retried: same keys, same ids, nothing new for the group
    assert publish_anomalies(bus, events) == ids
    assert bus.consume(TOPIC_ANOMALIES, "adops-rules", "c1", max_messages=100) == []


def test_nothing_above_the_threshold_publishes_nothing(bus: Bus) -> None:
    frame = campaign_metrics()
    assert publish_anomalies(bus, []) == []
    events = detect_anomalies(
        frame, source="campaigns", id_column="campaign_id", feature_columns=FEATURES, threshold=1.0
    )
    assert events == []
    assert bus.replay(TOPIC_ANOMALIES) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frame": pd.DataFrame(columns=["campaign_id", *FEATURES])}, "no rows"),
        ({"id_column": "nope"}, "missing id column"),
        ({"threshold": 0.0}, "threshold"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "frame": campaign_metrics(),
        "source": "campaigns",
        "id_column": "campaign_id",
        "feature_columns": FEATURES,
        **kwargs,
    }
    with pytest.raises(AnomalyInputError, match=message):
        detect_anomalies(**args)  # type: ignore[arg-type]
