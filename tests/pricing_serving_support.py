"""Shared by the pricing serving tests: a small real model trained on synthetic impressions.

The frame has the request columns of ``/v2/predict`` and a clearing CPM that depends on them
(tier, device, format, inventory, prime time, domain), so the model learns something real;
``shift`` moves the traffic mix for drift tests.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ssmas.pricing.model.bundle import PricingModel, train_model

DEVICES = np.array(["mobile", "tablet", "desktop"])
FORMATS = np.array(["banner", "video", "native", "interstitial"])
INVENTORY = np.array(["premium", "standard", "remnant"])
DOMAINS = np.array([f"site{i}.example" for i in range(20)])


def synthetic_frame(n: int = 4000, *, seed: int = 0, shift: float = 0.0) -> pa.Table:
    """Impressions with a learnable clearing CPM; ``shift`` in [0, 1] skews hours and devices."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, n)
    if shift > 0:
        late = rng.random(n) < shift
        hour[late] = rng.integers(19, 24, int(late.sum()))
    device_p = np.array([0.5, 0.2, 0.3]) * (1 - shift) + np.array([0.0, 1.0, 0.0]) * shift
    device = rng.choice(3, n, p=device_p / device_p.sum())
    fmt = rng.integers(0, 4, n)
    inv = rng.integers(0, 3, n)
    tier = rng.integers(1, 4, n)
    dom = rng.integers(0, len(DOMAINS), n)
    cpm = (
        1.0
        + 0.8 * (tier == 1)
        + 0.6 * (fmt == 1)
        + 0.5 * (inv == 0)
        + 0.4 * ((hour >= 19) & (hour <= 23))
        + 0.3 * (device == 2)
        + 0.05 * dom
        + rng.normal(0, 0.2, n)
    ).clip(0.05)
    return pa.table(
        {
            "impression_id": [f"train-{seed}-{i}" for i in range(n)],
            "ts": pa.array(np.arange(n, dtype="int64") * 1000, pa.timestamp("ms", tz="UTC")),
            "hour_of_day": hour,
            "day_of_week": rng.integers(1, 8, n),
            "country_tier": tier,
            "device_category": DEVICES[device],
            "format": FORMATS[fmt],
            "inventory_type": INVENTORY[inv],
            "domain": DOMAINS[dom],
            "user_engagement_score": rng.random(n),
            "device_performance_score": rng.uniform(50, 150, n),
            "historical_ctr_avg": rng.uniform(0, 0.05, n),
            "clearing_cpm": cpm,
            "filled": np.ones(n, dtype=bool),
        }
    )


@lru_cache(maxsize=4)
def small_model(seed: int = 0, version: str = "1") -> PricingModel:
    """A quickly trained model (seconds): 30 shallow trees on 4000 rows."""
    model, _metrics = train_model(
        synthetic_frame(seed=seed), params={"num_boost_round": 30, "max_depth": 4}, seed=seed
    )
    model.version = version
    model.set_threads(1)
    return model


def request_body(impression_id: str = "imp-1", **overrides: Any) -> dict[str, Any]:
    """A valid ``/v2/predict`` body."""
    body: dict[str, Any] = {
        "impression_id": impression_id,
        "hour_of_day": 20,
        "day_of_week": 3,
        "country_tier": 1,
        "device_category": "mobile",
        "format": "video",
        "inventory_type": "premium",
        "domain": "site3.example",
    }
    body.update(overrides)
    return body


def frame_requests(table: pa.Table, limit: int | None = None) -> list[dict[str, Any]]:
    """The request part of a synthetic frame's rows, as ``/v2/predict`` bodies."""
    keys = [
        "impression_id",
        "hour_of_day",
        "day_of_week",
        "country_tier",
        "device_category",
        "format",
        "inventory_type",
        "domain",
        "user_engagement_score",
        "device_performance_score",
        "historical_ctr_avg",
    ]
    rows = table.select(keys).slice(0, limit).to_pylist()
    return [
        {k: (int(v) if isinstance(v, (np.integer,)) else v) for k, v in r.items()} for r in rows
    ]


class BlockingScorer:
    """A model that cannot answer until the test releases it (a hung model, no clock involved)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.version = "9"
        self.metrics: dict[str, float] = {}
        self.encoder = inner.encoder
        self.release = threading.Event()
        self.finished = threading.Event()
        self.calls = 0

    def predict_matrix(self, x: npt.NDArray[np.float32]) -> Any:
        self.calls += 1
        self.release.wait(10)
        self.finished.set()
        return self.inner.predict_matrix(x)


class BrokenScorer(BlockingScorer):
    def predict_matrix(self, x: npt.NDArray[np.float32]) -> Any:
        raise RuntimeError("model file corrupt")
