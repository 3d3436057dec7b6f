"""The stream job: points in, 1-minute tumbling and 5-minute sliding windows, alerts out.

Two kinds of input reach it:

* the exchange's ``metrics.adops`` messages: one per entity (publisher, partner, the exchange)
  and minute, already a 1-minute aggregate, so each closes its minute window on arrival; every
  watched metric of it is a series ``<entity_type>/<entity_id>/<metric>``;
* any ``timestamp,value`` series (posted over the API, read from CSV), ``series/<name>/value``:
  its points are averaged into 1-minute tumbling windows, a minute closing when a point of a
  later minute arrives (or on :meth:`StreamProcessor.flush`).

A closed minute moves the series' 5-minute sliding window (hop one minute) and is scored by the
:class:`~ssmas.adops.stream.online.StreamDetector`. A point for a minute already closed is late
and dropped (counted), which is also what makes a point seen twice change nothing. The whole
state (series names, detector arrays, open windows, recent history) round-trips through
:meth:`to_bytes` / :meth:`from_bytes`, so the worker checkpoints it with its stream offsets.
"""

from __future__ import annotations

import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ssmas.adops.stream.alerts import Alert, MetricAnomaly, fingerprint
from ssmas.adops.stream.composite import WATCHED, CompositeRules, default_rules
from ssmas.adops.stream.model import DetectorModel
from ssmas.adops.stream.online import StreamDetector, StreamDetectorConfig
from ssmas.adops.stream.peers import PeerRatioTest

# The smallest move of a metric worth one unit of deviation: a partner that times out once in
# 7,000 calls a minute has a timeout rate of 0 almost always, and one timeout is not news.
METRIC_FLOORS = {
    "fill_rate": 0.005,
    "error_rate": 0.005,
    "timeout_rate": 0.005,
    "cache_hit_rate": 0.005,
    "bid_latency_ms": 2.0,
    "requests": 1.0,
    "ivt_rate": 0.01,
    "floor_reject_rate": 0.01,
    "capacity_utilisation": 0.01,
}
# Metrics also watched for slow drifts (CUSUM): ratios whose level does not swing with the hour
# the way counts do, so a lagging hourly baseline does not read as a drift every morning.
DRIFT_METRICS = frozenset({"rpm", "fill_rate", "floor_reject_rate", "ivt_rate"})
HISTORY = 180  # closed minutes kept per series for the detector view
# The ratio tests (ssmas.adops.stream.peers), each against the exchange's value of the same
# minute, weighted by the entity's requests: a publisher's RPM (log ratio) and a big ad unit's
# fill rate (difference: a broken unit's fill is exactly 0).
PEER_TESTS: dict[str, tuple[str, str, str]] = {
    "publisher/rpm": ("publisher", "rpm", "log"),
    "ad_unit/fill_rate": ("ad_unit", "fill_rate", "difference"),
}
PEER_REFERENCE, PEER_WEIGHT = "exchange", "requests"
SERIES_SOURCE = "series"
EXCHANGE_SOURCE = "exchange"


class StreamInputError(ValueError):
    """A point or message that cannot be read (the message says which field)."""


@dataclass
class StreamStats:
    points: int = 0
    minutes_closed: int = 0
    late: int = 0
    invalid: int = 0
    alerts: int = 0


@dataclass
class _Open:
    minute: int
    total: float = 0.0
    count: int = 0


@dataclass
class _History:
    ts: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)

    def add(self, ts: int, value: float, score: float) -> None:
        self.ts.append(ts)
        self.value.append(value)
        self.score.append(score)
        if len(self.ts) > HISTORY:
            del self.ts[0], self.value[0], self.score[0]


def _epoch(text: Any) -> int:
    if isinstance(text, datetime):
        at = text
    elif isinstance(text, str) and text:
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise StreamInputError(f"ts {text[:40]!r} is not an ISO-8601 time") from None
    else:
        raise StreamInputError("ts is missing")
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp())


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


class StreamProcessor:
    """Windows, detector and composite rules over every series it has seen."""

    def __init__(
        self,
        rules: CompositeRules | None = None,
        config: StreamDetectorConfig | None = None,
    ) -> None:
        self.rules = rules or default_rules()
        self.detector = StreamDetector(config)
        self.peers = _peer_tests(self.detector.config)
        self.peer_minute = -1  # the last minute the ratio test scored (epoch s)
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self.last_closed: dict[int, int] = {}  # series index -> last closed minute (epoch s)
        self.open: dict[int, _Open] = {}  # posted series: the minute still filling
        self.history: dict[int, _History] = {}
        self.stats = StreamStats()
        # a trained model (seasonal levels, gains), applied with :meth:`apply_model`
        self.model: DetectorModel | None = None
        self.model_version: str | None = None
        self.rows = np.zeros(0, dtype=np.int64)  # series index -> model row (-1: unknown)
        self.level = np.zeros(0)  # series index -> the model's level at its last minute

    # ---- series bookkeeping -------------------------------------------------------------
    def _series(self, key: str) -> int:
        found = self.index.get(key)
        if found is None:
            found = len(self.keys)
            self.keys.append(key)
            self.index[key] = found
            metric = key.rsplit("/", 1)[-1]
            drift = metric in DRIFT_METRICS and not key.startswith(f"{SERIES_SOURCE}/")
            self.detector.grow(found + 1, METRIC_FLOORS.get(metric), drift)
            row = -1 if self.model is None else self.model.index.get(key, -1)
            self.rows = np.append(self.rows, row)
            self.level = np.append(self.level, 0.0)
            if row >= 0 and self.model is not None:
                self.detector.gain[found] = self.model.gain[row]
                self.detector.rel[found] = self.model.rel_floor
        return found

    def apply_model(self, model: DetectorModel | None, version: str | None = None) -> int:
        """Score with ``model`` from now on (None: back to the online baseline alone); the
        series it knows move their baseline into its residual space. Returns how many of the
        stream's series it covers."""
        d = self.detector
        n = len(self.keys)
        rows = np.array(
            [-1 if model is None else model.index.get(k, -1) for k in self.keys], dtype=np.int64
        )
        new_level = np.zeros(n)
        for i in range(n):
            if rows[i] >= 0 and model is not None and i in self.last_closed:
                new_level[i] = model.level(rows[i : i + 1], self.last_closed[i])[0]
        shift = self.level[:n] - new_level
        d.mean[:n] += shift
        d.last[:n] += shift
        d.ring[:n] += shift[:, None]
        known = rows >= 0
        # the online baseline lags the hour; in the model's residual space the level of the
        # last minutes is the better start (a warm series only)
        settled = known & (d.count[:n] >= d.config.sliding)
        d.mean[:n][settled] = d.ring[:n][settled].mean(axis=1)
        if model is not None and known.any():
            noise = model.noise[rows[known]]
            d.var[:n][known] = np.where(noise > 0, noise**2, d.var[:n][known])
            d.gain[:n][known] = model.gain[rows[known]]
            d.rel[:n][known] = model.rel_floor
        d.gain[:n][~known] = 1.0
        d.rel[:n][~known] = d.config.rel_floor
        self.model, self.model_version = model, version
        self.rows, self.level = rows, new_level
        return int(known.sum())

    def series_keys(self) -> list[str]:
        return list(self.keys)

    def series_history(self, key: str) -> dict[str, list[Any]] | None:
        """The recent closed minutes of a series: times, values, scores (None if unknown)."""
        i = self.index.get(key)
        if i is None:
            return None
        h = self.history.get(i, _History())
        return {"ts": list(h.ts), "value": list(h.value), "score": list(h.score)}

    # ---- input ----------------------------------------------------------------------------
    def ingest_exchange(self, messages: Iterable[Mapping[str, Any]]) -> list[Alert]:
        """Exchange metric points (``metrics.adops`` payloads), each a closed minute."""
        by_minute: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
        for message in messages:
            try:
                etype, eid = str(message["entity_type"]), str(message["entity_id"])
                minute = _epoch(message.get("ts")) // 60 * 60
            except (KeyError, StreamInputError):
                self.stats.invalid += 1
                continue
            if not etype or not eid:
                self.stats.invalid += 1
                continue
            by_minute[minute].append(message)
        alerts: list[Alert] = []
        for minute in sorted(by_minute):
            indices: list[int] = []
            values: list[float] = []
            owners: list[tuple[str, str, str]] = []
            seen: set[int] = set()
            for message in by_minute[minute]:
                etype, eid = str(message["entity_type"]), str(message["entity_id"])
                for metric in WATCHED:
                    if metric not in message:
                        continue
                    i = self._series(f"{etype}/{eid}/{metric}")
                    self.stats.points += 1
                    if i in seen or self.last_closed.get(i, -1) >= minute:
                        self.stats.late += 1
                        continue
                    seen.add(i)
                    indices.append(i)
                    values.append(_number(message[metric]))
                    owners.append((etype, eid, metric))
            extra = self._peer_step(minute, by_minute[minute])
            alerts += self._close(minute, indices, values, owners, EXCHANGE_SOURCE, extra)
        return alerts

    def _peer_step(
        self, minute: int, messages: Sequence[Mapping[str, Any]]
    ) -> dict[tuple[str, str], dict[str, MetricAnomaly]]:
        """The ratio tests of ``minute`` against the exchange's values (once per minute)."""
        if minute <= self.peer_minute or not any(t.enabled for t in self.peers.values()):
            return {}
        reference: Mapping[str, Any] = {}
        by_type: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for message in messages:
            etype = str(message["entity_type"])
            if etype == PEER_REFERENCE:
                reference = message
            else:
                by_type[etype].append(message)
        if not reference:
            return {}
        self.peer_minute = minute
        found: dict[tuple[str, str], dict[str, MetricAnomaly]] = defaultdict(dict)
        for name, (etype, metric, _) in PEER_TESTS.items():
            values = {str(m["entity_id"]): _number(m.get(metric)) for m in by_type[etype]}
            weight = {str(m["entity_id"]): _number(m.get(PEER_WEIGHT)) for m in by_type[etype]}
            if not values:
                continue
            for a in self.peers[name].step(_number(reference.get(metric)), values, weight):
                found[(etype, a.entity_id)][metric] = MetricAnomaly(
                    value=a.value,
                    sliding_mean=a.sliding_mean,
                    baseline=a.baseline,
                    z=a.z,
                    score=a.score,
                )
        return found

    def ingest_points(self, name: str, points: Sequence[tuple[Any, Any]]) -> list[Alert]:
        """Points ``(timestamp, value)`` of the posted series ``name``, in time order."""
        key = f"{SERIES_SOURCE}/{name}/value"
        i = self._series(key)
        alerts: list[Alert] = []
        for ts, raw in points:
            self.stats.points += 1
            try:
                minute = _epoch(ts) // 60 * 60
            except StreamInputError:
                self.stats.invalid += 1
                continue
            value = _number(raw)
            current = self.open.get(i)
            if self.last_closed.get(i, -1) >= minute or (current and minute < current.minute):
                self.stats.late += 1
                continue
            if current is not None and minute > current.minute:
                alerts += self._close_open(i, name)
                current = None
            if current is None:
                current = self.open[i] = _Open(minute)
            if math.isfinite(value):
                current.total += value
                current.count += 1
        return alerts

    def flush(self) -> list[Alert]:
        """Close every posted series' open minute (end of input)."""
        alerts: list[Alert] = []
        for i in list(self.open):
            alerts += self._close_open(i, self.keys[i].split("/")[1])
        return alerts

    def _close_open(self, i: int, name: str) -> list[Alert]:
        current = self.open.pop(i)
        value = current.total / current.count if current.count else math.nan
        return self._close(
            current.minute, [i], [value], [(SERIES_SOURCE, name, "value")], SERIES_SOURCE
        )

    # ---- detection ------------------------------------------------------------------------
    def _close(
        self,
        minute: int,
        indices: list[int],
        values: list[float],
        owners: list[tuple[str, str, str]],
        source: str,
        extra: Mapping[tuple[str, str], Mapping[str, MetricAnomaly]] | None = None,
    ) -> list[Alert]:
        """Score a closed minute; ``extra`` holds anomalies other tests found that minute
        (per entity and metric), merged into the alerts."""
        if not indices:
            return []
        idx = np.asarray(indices, dtype=np.int64)
        x = np.asarray(values, dtype=np.float64)
        offset = None
        if self.model is not None:
            rows = self.rows[idx]
            offset = np.zeros(len(idx))
            known = rows >= 0
            if known.any():
                offset[known] = self.model.level(rows[known], minute)
            self.level[idx] = offset
        level = self.level[idx]
        baseline = self.detector.mean[idx] + level
        score, z = self.detector.step(idx, x, offset)
        sliding = self.detector.ring[idx].mean(axis=1) + level
        self.stats.minutes_closed += len(indices)
        for j, i in enumerate(indices):
            self.last_closed[i] = minute
            self.history.setdefault(i, _History()).add(
                minute, float(x[j]) if math.isfinite(x[j]) else math.nan, float(score[j])
            )
        hot = np.flatnonzero(score >= 0.5)
        if len(hot) == 0 and not extra:
            return []
        at = datetime.fromtimestamp(minute, UTC)
        by_entity: dict[tuple[str, str], dict[str, MetricAnomaly]] = defaultdict(dict)
        for entity, found in (extra or {}).items():
            by_entity[entity].update(found)
        for j in hot.tolist():
            etype, eid, metric = owners[j]
            other = by_entity[(etype, eid)].get(metric)
            if other is not None and other.score >= float(score[j]):
                continue  # the other test saw it more strongly
            by_entity[(etype, eid)][metric] = MetricAnomaly(
                value=float(x[j]),
                sliding_mean=float(sliding[j]),
                baseline=float(baseline[j]),
                z=round(float(z[j]), 3),
                score=round(float(score[j]), 4),
            )
        alerts = []
        for (etype, eid), metrics in by_entity.items():
            means = self._sliding_means(etype, eid)
            scores = {m: a.score for m, a in metrics.items()}
            alerts.append(
                Alert(
                    fingerprint=fingerprint(source, etype, eid, list(metrics)),
                    source=source,
                    entity_type=etype,
                    entity_id=eid,
                    ts=at,
                    metrics=metrics,
                    score=max(scores.values()),
                    problem_type=self.rules.classify(scores, means),
                    severity=self.rules.severity_of(scores),
                )
            )
        self.stats.alerts += len(alerts)
        return alerts

    def _sliding_means(self, etype: str, eid: str) -> dict[str, float]:
        out = {}
        for metric in WATCHED:
            i = self.index.get(f"{etype}/{eid}/{metric}")
            if i is not None and self.detector.count[i] > 0:
                filled = min(int(self.detector.count[i]), self.detector.config.sliding)
                out[metric] = float(self.detector.ring[i, -filled:].mean() + self.level[i])
        return out

    # ---- checkpoint -----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Everything but the rules, as JSON plus the detector's ``.npz`` (no pickles)."""
        body: dict[str, Any] = {
            "keys": self.keys,
            "last_closed": {str(i): m for i, m in self.last_closed.items()},
            "open": {str(i): [o.minute, o.total, o.count] for i, o in self.open.items()},
            "history": {
                str(i): [h.ts, [None if math.isnan(v) else v for v in h.value], h.score]
                for i, h in self.history.items()
            },
            "stats": self.stats.__dict__,
            "model_version": self.model_version,
            "level": self.level.tolist(),
            "peers": {name: test.to_dict() for name, test in self.peers.items()},
            "peer_minute": self.peer_minute,
        }
        detector = self.detector.to_bytes()
        body["detector_size"] = len(detector)
        head = json.dumps(body).encode()
        buffer = io.BytesIO()
        buffer.write(len(head).to_bytes(8, "big"))
        buffer.write(head)
        buffer.write(detector)
        if self.model is not None:
            buffer.write(self.model.to_bytes())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, rules: CompositeRules | None = None) -> StreamProcessor:
        size = int.from_bytes(data[:8], "big")
        body = json.loads(data[8 : 8 + size])
        processor = cls(rules)
        tail = data[8 + size :]
        detector_size = body.get("detector_size")  # absent before trained models
        if detector_size is None:
            processor.detector = StreamDetector.from_bytes(tail)
        else:
            processor.detector = StreamDetector.from_bytes(tail[:detector_size])
            if len(tail) > detector_size:
                processor.model = DetectorModel.from_bytes(tail[detector_size:])
                processor.model_version = body.get("model_version")
        processor.keys = list(body["keys"])
        processor.index = {k: i for i, k in enumerate(processor.keys)}
        processor.last_closed = {int(i): int(m) for i, m in body["last_closed"].items()}
        processor.open = {
            int(i): _Open(int(o[0]), float(o[1]), int(o[2])) for i, o in body["open"].items()
        }
        processor.history = {
            int(i): _History(
                list(h[0]), [math.nan if v is None else float(v) for v in h[1]], list(h[2])
            )
            for i, h in body["history"].items()
        }
        processor.stats = StreamStats(**body["stats"])
        processor.peers = _peer_tests(processor.detector.config)
        # absent before the ratio tests (they start learning now); one test's state before
        # the ad units' fill test
        saved = body.get("peers") or {}
        if "ids" in saved:
            saved = {"publisher/rpm": saved}
        for name, state in saved.items():
            if name in processor.peers:
                processor.peers[name].load(state)
        processor.peer_minute = int(body.get("peer_minute", -1))
        n = len(processor.keys)
        model = processor.model
        processor.rows = np.array(
            [-1 if model is None else model.index.get(k, -1) for k in processor.keys],
            dtype=np.int64,
        )
        processor.level = np.asarray(body.get("level", [0.0] * n), dtype=np.float64)
        return processor


def _peer_tests(config: StreamDetectorConfig) -> dict[str, PeerRatioTest]:
    return {name: _peer_test(config, scale) for name, (_, _, scale) in PEER_TESTS.items()}


def _peer_test(config: StreamDetectorConfig, scale: str) -> PeerRatioTest:
    return PeerRatioTest(
        scale=scale,
        threshold=config.peer_threshold,
        window=config.sliding,
        lag=config.peer_lag,
        half_life=config.peer_half_life,
        warmup=config.peer_warmup,
        clip=config.clip,
        adapt_after=config.adapt_after,
        direction=config.peer_direction,
    )
