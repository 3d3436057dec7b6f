"""Pricing's part of ``ssmas demo``: a first model, dynamic floors on the live exchange, and
their revenue against the unfloored control share.

:func:`run_demo` (the pricing product's demo scenario, ``ssmas/pricing/product.py``):

1. waits for this process's serving runtime (the API's ``/v2`` side, started with the app);
2. makes sure there is a champion: an earlier run's, else :func:`train_demo_model` on a small
   simulated history (about 30 s), announced on ``pricing.models`` so servers load it;
3. gives every publisher without a stored floor configuration the demo's
   (:data:`DEMO_FLOOR_CONFIG`: 10% control share);
4. installs a :class:`DemoFloorProvider` in the live exchange's floor slot: every simulated
   minute its requests are priced by the serving runtime (``score_many``, the champion /
   challenger split and fallback of ``/v2/floor/batch``) and floored under each publisher's
   configuration by ``floors.decisions.decide_many``, the array form of the ``decide`` that
   ``/v2/floor`` runs; control impressions go unfloored; every decision is logged to
   ``pricing_floor_decisions`` with its model version, as ``/v2/floor`` logs them, through the
   serving side's background writer (one bulk insert, never on the exchange's thread);
5. settles each minute's auctions into a :class:`FloorLedger`: auctions, fills and revenue of
   the floored and the control impressions, as Prometheus counters, a ``pricing.live_floors``
   bus event every few simulated minutes and ``<data_dir>/pricing/live_floors.json`` (read by
   the dashboard's floors page); the same outcomes go through
   :func:`~ssmas.pricing.serving.stats.record_outcomes`, the path of ``POST /v2/outcomes``, so
   the per-variant realised figures (Models page, ``/v2/models``) are live during the demo;
   the ``pricing_outcomes`` rows of a sticky sample (:data:`OUTCOME_SHARE`) are written;
6. runs the serving side's drift check once :data:`FIRST_DRIFT_S` after the floors go live
   (:func:`first_drift_report`; retried until the capture sample is big enough), so the
   dashboard's drift page has a report minutes after the start, not a monitor period later.

Rows are stamped in real time and the decision log grows by some 3.6M rows an hour, so while
the scenario runs the serving side keeps captures, decisions and outcomes
:data:`DEMO_RETENTION_HOURS` (:func:`bound_retention`) unless ``SSMAS_PRICING_RETENTION_HOURS``
says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from ssmas.core import metrics
from ssmas.core.bus.base import Bus, BusError
from ssmas.exchange import (
    DEVICES,
    FORMATS,
    INVENTORY_TYPES,
    STATUS_OK,
    Block,
    Requests,
    World,
    build_world,
    floor_slot,
)
from ssmas.pricing.floors.formula import PublisherFloorConfig
from ssmas.pricing.schemas import MAX_BATCH, FloorRequest
from ssmas.pricing.serving.responses import Priced
from ssmas.settings import Settings

if TYPE_CHECKING:
    from ssmas.core.platform import Platform
    from ssmas.core.registry import ModelVersionInfo
    from ssmas.pricing.serving.runtime import ServingRuntime

__all__ = [
    "DEMO_FLOOR_CONFIG",
    "DEMO_RETENTION_HOURS",
    "LIVE_TOPIC",
    "DemoFloorProvider",
    "DemoOptions",
    "FloorLedger",
    "bound_retention",
    "ensure_champion",
    "first_drift_report",
    "live_floors_path",
    "read_live_floors",
    "run_demo",
    "run_pricing_demo",
]

LIVE_TOPIC = "pricing.live_floors"
ACTOR = "demo"
# The seed's formula floors at ~1x the expected price and never below 0.5 EUR, which on this
# exchange earns no more than no floor at all (docs/pricing.md). The demo keeps the formula and
# bounds it the way a publisher would: multiplier at most 0.7, minimum 0.10 EUR.
DEMO_FLOOR_CONFIG = PublisherFloorConfig(min_floor=0.1, multiplier_max=0.7, control_share=0.1)
GROUPS: tuple[str, ...] = ("floored", "control", "fallback", "unpriced")
FLOORED, CONTROL, FALLBACK, UNPRICED = range(4)
CAPTURE_SHARE = 0.01  # of the demo's predictions kept in pricing_captures (drift monitor)
# Of the demo's impressions whose outcome is written to pricing_outcomes (the same sticky hash
# as the capture sample, so every captured prediction has its outcome row). Every decision is
# written to pricing_floor_decisions; every outcome counts in the per-variant figures.
OUTCOME_SHARE = 0.1
BOOT_MINUTES = 10  # minutes of history before an uplift interval is given
# Captures, decisions and outcomes kept while the demo runs: twice the default drift window
# (the drift page's input), ~7M decision rows (~1.5 GB of SQLite) at the demo's pace.
DEMO_RETENTION_HOURS = 2.0
# The serving side's drift check first runs one period (SSMAS_PRICING_DRIFT_INTERVAL_S, 300 s)
# after start-up, when the demo may still be training its model: the demo checks once itself
# this long after its floors go live (then every DRIFT_RETRY_S until the capture sample is big
# enough), so the drift page has a report a few minutes after `ssmas demo` starts.
FIRST_DRIFT_S = 60.0
DRIFT_RETRY_S = 30.0
_log = structlog.get_logger(__name__)

AUCTIONS = metrics.counter(
    "pricing", "live_auctions", "Live exchange auctions priced by the demo", labels=("group",)
)
FILLED = metrics.counter(
    "pricing", "live_filled", "Live exchange auctions filled", labels=("group",)
)
REVENUE = metrics.counter(
    "pricing", "live_revenue_eur", "Live exchange revenue (EUR)", labels=("group",)
)
RPM = metrics.gauge(
    "pricing",
    "live_revenue_per_mille",
    "eur",
    "Revenue per 1000 auctions since the demo started",
    labels=("group",),
)
UPLIFT = metrics.gauge(
    "pricing", "live_floor_uplift", "ratio", "Floored over control revenue per auction, minus 1"
)


def live_floors_path(settings: Settings) -> Path:
    """The demo's running floored-vs-control figures (JSON, rewritten every few minutes)."""
    return settings.data_dir / "pricing" / "live_floors.json"


def read_live_floors(settings: Settings) -> dict[str, Any] | None:
    """The last figures the demo wrote, or None when it never ran on this data directory."""
    try:
        body = json.loads(live_floors_path(settings).read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


@dataclass(frozen=True)
class DemoOptions:
    """Knobs of :func:`run_pricing_demo` (tests shrink them)."""

    history_days: int = 3
    impressions_per_day: int = 200_000
    runtime_wait_s: float = 60.0
    publish_every_min: int = 5
    floor_config: PublisherFloorConfig = DEMO_FLOOR_CONFIG
    outcome_share: float = OUTCOME_SHARE
    retention_hours: float = DEMO_RETENTION_HOURS
    first_drift_s: float = FIRST_DRIFT_S
    drift_retry_s: float = DRIFT_RETRY_S


# -- the ledger -------------------------------------------------------------------------------


class FloorLedger:
    """Floored vs control figures of the live auctions: totals, the current window, and the
    last day of minutes for a bootstrap interval of the uplift."""

    def __init__(self, *, keep_minutes: int = 1440, seed: int = 0) -> None:
        self.started = datetime.now(UTC)
        self.totals = np.zeros((len(GROUPS), 4))  # auctions, filled, revenue EUR, floor sum
        self.window = np.zeros((len(GROUPS), 4))
        self.window_minutes = 0
        self.window_start: datetime | None = None
        self.minutes = 0
        self.last_minute: datetime | None = None
        self._history: deque[tuple[float, float, float, float]] = deque(maxlen=keep_minutes)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def add(self, at: datetime, figures: np.ndarray) -> None:
        """One minute's ``(groups, 4)`` figures."""
        with self._lock:
            self.totals += figures
            self.window += figures
            self.window_start = self.window_start or at
            self.window_minutes += 1
            self.minutes += 1
            self.last_minute = at
            f, c = figures[FLOORED], figures[CONTROL]
            self._history.append((f[0], f[2], c[0], c[2]))
        for g, name in enumerate(GROUPS):
            AUCTIONS.labels(name).inc(figures[g, 0])
            FILLED.labels(name).inc(figures[g, 1])
            REVENUE.labels(name).inc(figures[g, 2])

    @staticmethod
    def group_figures(figures: np.ndarray) -> dict[str, dict[str, float | None]]:
        out: dict[str, dict[str, float | None]] = {}
        for g, name in enumerate(GROUPS):
            auctions, filled, revenue, floor_sum = (float(v) for v in figures[g])
            out[name] = {
                "auctions": int(auctions),
                "filled": int(filled),
                "fill_rate": filled / auctions if auctions else None,
                "revenue_eur": round(revenue, 6),
                "revenue_per_impression_eur": revenue / auctions if auctions else None,
                "rpm_eur": 1000.0 * revenue / auctions if auctions else None,
                "mean_floor_eur": floor_sum / auctions if auctions else None,
            }
        return out

    @staticmethod
    def uplift(figures: np.ndarray) -> float | None:
        """Floored over control revenue per auction, minus one (None without both groups)."""
        f, c = figures[FLOORED], figures[CONTROL]
        if f[0] <= 0 or c[0] <= 0 or c[2] <= 0:
            return None
        return float((f[2] / f[0]) / (c[2] / c[0]) - 1.0)

    def uplift_interval(self, n_boot: int = 400) -> tuple[float, float] | None:
        """95% bootstrap interval of the uplift, resampling whole minutes (paired groups)."""
        with self._lock:
            rows = np.array(self._history, dtype=np.float64)
        if rows.shape[0] < BOOT_MINUTES:
            return None
        idx = self._rng.integers(0, rows.shape[0], size=(n_boot, rows.shape[0]))
        sums = rows[idx].sum(axis=1)  # (n_boot, 4)
        ok = (sums[:, 0] > 0) & (sums[:, 2] > 0) & (sums[:, 3] > 0)
        if not ok.all():
            return None
        ratio = (sums[:, 1] / sums[:, 0]) / (sums[:, 3] / sums[:, 2]) - 1.0
        low, high = np.quantile(ratio, [0.025, 0.975])
        return float(low), float(high)

    def snapshot(self, **extra: Any) -> dict[str, Any]:
        """Everything the dashboard and the bus event show, as JSON-ready values."""
        with self._lock:
            totals, window = self.totals.copy(), self.window.copy()
            window_start, window_minutes = self.window_start, self.window_minutes
            minutes, last = self.minutes, self.last_minute
        uplift = self.uplift(totals)
        interval = self.uplift_interval()
        groups = self.group_figures(totals)
        UPLIFT.set(uplift if uplift is not None else 0.0)
        for name in ("floored", "control"):
            RPM.labels(name).set(groups[name]["rpm_eur"] or 0.0)
        return {
            "started_at": self.started.isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
            "minutes": minutes,
            "interval_after_minutes": BOOT_MINUTES,
            "last_minute": last.isoformat() if last else None,
            "totals": groups,
            "uplift_pct": None if uplift is None else round(100.0 * uplift, 3),
            "uplift_ci95_pct": None
            if interval is None
            else [round(100.0 * interval[0], 3), round(100.0 * interval[1], 3)],
            "window": {
                "start": window_start.isoformat() if window_start else None,
                "minutes": window_minutes,
                "groups": self.group_figures(window),
                "uplift_pct": None if (w := self.uplift(window)) is None else round(100.0 * w, 3),
            },
            **extra,
        }

    def reset_window(self) -> None:
        with self._lock:
            self.window[:] = 0.0
            self.window_minutes = 0
            self.window_start = None


# -- the provider -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    """A priced minute waiting for its auctions: group, floor, impression id, and whether
    its outcome row is kept."""

    requests: Requests
    groups: np.ndarray
    floors: np.ndarray
    ids: list[str]
    kept: np.ndarray


class DemoFloorProvider:
    """Prices the live exchange's minutes with the serving runtime and settles the outcome."""

    def __init__(
        self,
        runtime: ServingRuntime,
        ledger: FloorLedger,
        *,
        publish: Callable[[dict[str, Any]], None],
        publish_every_min: int = 5,
        outcome_share: float = OUTCOME_SHARE,
    ) -> None:
        self.runtime = runtime
        self.ledger = ledger
        self._publish = publish
        self._every = max(1, publish_every_min)
        self.outcome_share = outcome_share
        self._loop = asyncio.new_event_loop()
        self._busy = threading.Lock()  # held while pricing a minute; close() waits for it
        self._pending: _Pending | None = None
        self._world_key: int | None = None
        self._publisher_ids: list[str] = []
        self._domains: list[str] = []
        self._default_floors = np.zeros(0, dtype=np.float32)

    def _learn_world(self, world: World) -> None:
        if self._world_key == id(world):
            return
        self._publisher_ids = world.publisher_ids()
        self._domains = [p.domain for p in world.publishers]
        self._default_floors = np.array([u.default_floor for u in world.ad_units], np.float32)
        self._world_key = id(world)

    def requests(self, world: World, at: datetime, req: Requests) -> list[FloorRequest]:
        """The minute's requests as ``/v2/floor`` bodies (one impression id per request)."""
        self._learn_world(world)
        prefix = f"live-{at:%Y%m%d%H%M}-"
        devices, formats, inventory = DEVICES, FORMATS, INVENTORY_TYPES
        pubs, domains = self._publisher_ids, self._domains
        columns = zip(
            req.hour.tolist(),
            req.dow.tolist(),
            req.tier.tolist(),
            req.device.tolist(),
            req.fmt.tolist(),
            req.inventory.tolist(),
            req.publisher.tolist(),
            req.engagement.tolist(),
            req.performance.tolist(),
            req.ctr.tolist(),
            strict=True,
        )
        # Validated like any body (pydantic-core builds them faster than model_construct does).
        return [
            FloorRequest(
                impression_id=f"{prefix}{i}",
                hour_of_day=hour,
                day_of_week=dow,
                country_tier=tier,
                device_category=devices[device],
                format=formats[fmt],
                inventory_type=inventory[inv],
                domain=domains[pub],
                publisher_id=pubs[pub],
                user_engagement_score=min(max(eng, 0.0), 1.0),
                device_performance_score=max(perf, 0.0),
                historical_ctr_avg=min(max(ctr, 0.0), 1.0),
            )
            for i, (hour, dow, tier, device, fmt, inv, pub, eng, perf, ctr) in enumerate(columns)
        ]

    def floors(
        self, world: World, at: datetime, requests: Requests, unit_floors: np.ndarray
    ) -> np.ndarray:
        """The floor of each request: dynamic, 0 for control, the ad unit's own otherwise."""
        with self._busy:
            if self._loop.is_closed():
                return unit_floors
            return self._floors(world, at, requests, unit_floors)

    def _floors(
        self, world: World, at: datetime, requests: Requests, unit_floors: np.ndarray
    ) -> np.ndarray:
        from ssmas.pricing.floors.decisions import REASONS, decide_many, decision_rows
        from ssmas.pricing.serving.capture import sample_mask
        from ssmas.pricing.serving.responses import capture_row
        from ssmas.pricing.serving.stats import FLOOR_DECISIONS
        from ssmas.pricing.serving.store import captures, floor_decisions

        reqs = self.requests(world, at, requests)
        n = len(reqs)
        floors = unit_floors.astype(np.float32, copy=True)
        groups = np.full(n, UNPRICED, dtype=np.int8)
        ids = [r.impression_id for r in reqs]
        kept = sample_mask(ids, self.outcome_share)
        if n == 0:
            self._pending = _Pending(requests, groups, floors, ids, kept)
            return floors
        runtime = self.runtime
        service = runtime.service
        stats = service.stats
        configs = {pid: runtime.floors.get(pid) for pid in {r.publisher_id for r in reqs}}
        chunks: list[Priced] = []
        started = time.perf_counter()
        for lo in range(0, n, MAX_BATCH):
            chunk = reqs[lo : lo + MAX_BATCH]
            t0 = time.perf_counter()
            priced = self._loop.run_until_complete(service.score_many(chunk))
            stats.served_many(
                priced.variant, priced.point, priced.fallback, time.perf_counter() - t0
            )
            # Remembered like /v2/floor/batch's answers, so the outcome is matched in settle().
            stats.remember_many(
                ids[lo : lo + MAX_BATCH], priced.variant, priced.version, priced.point.tolist()
            )
            chunks.append(priced)
        priced = _concat(chunks)
        decided = decide_many(reqs, priced, configs)
        # Counted per (reason, variant) in one pass: variant 0 champion, 1 challenger.
        challenger = np.fromiter((v == "challenger" for v in priced.variant), np.bool_, n)
        counts = np.bincount(decided.reason * 2 + challenger, minlength=2 * len(REASONS))
        for code, count in enumerate(counts.tolist()):
            if count:
                variant = "challenger" if code % 2 else "champion"
                FLOOR_DECISIONS.labels(REASONS[code // 2], variant).inc(count)
        now = datetime.now(UTC)
        # Every decision, as /v2/floor logs them; rows built from the columns (~0.5 µs a row).
        rows = decision_rows(reqs, priced, decided, now)
        dynamic, control = decided.mask("dynamic"), decided.mask("control")
        fell_back = decided.mask("fallback")
        floors[dynamic | fell_back] = decided.floor[dynamic | fell_back]
        floors[control] = 0.0
        groups[dynamic], groups[control], groups[fell_back] = FLOORED, CONTROL, FALLBACK
        # An ad unit floor set in the control plane (an operator, an injected fault) stays in
        # force: AdOps' closed loop on floors keeps working under dynamic pricing.
        overridden = unit_floors != self._default_floors[requests.unit]
        floors[overridden] = unit_floors[overridden]
        groups[overridden] = UNPRICED
        writer = runtime.writer
        # One bulk append: the serving side's capture thread writes them in one transaction.
        writer.add_many(floor_decisions, rows)
        chosen = np.flatnonzero(sample_mask(ids, CAPTURE_SHARE))
        if chosen.size:
            latency_ms = (time.perf_counter() - started) * 1000.0 / n
            captured = [
                capture_row(reqs[i], priced.row(i), now, latency_ms) for i in chosen.tolist()
            ]
            writer.add_many(captures, captured)
        self._pending = _Pending(requests, groups, floors, ids, kept)
        return floors

    def settle(self, world: World, at: datetime, block: Block) -> None:
        """Account the minute's auctions to their groups and their outcomes to the variants
        that priced them; publish every few minutes."""
        from ssmas.pricing.serving.stats import record_outcomes

        pending, self._pending = self._pending, None
        if pending is None or pending.requests is not block.requests:
            return  # the exchange cleared a minute this provider did not price
        groups, floors = pending.groups, pending.floors
        auctioned = block.status == STATUS_OK
        filled = block.outcome.filled & auctioned
        clearing = np.where(auctioned, block.outcome.clearing_cpm, 0.0).astype(np.float64)
        figures = np.zeros((len(GROUPS), 4))
        for g in range(len(GROUPS)):
            mask = (groups == g) & auctioned
            figures[g] = (
                mask.sum(),
                (filled & mask).sum(),
                clearing[mask].sum() / 1000.0,
                floors[mask].astype(np.float64).sum(),
            )
        self.ledger.add(at, figures)
        if pending.ids:
            # What POST /v2/outcomes would receive for the auctioned impressions.
            sold = np.flatnonzero(auctioned)
            record_outcomes(
                self.runtime.service.stats,
                self.runtime.writer,
                [pending.ids[i] for i in sold.tolist()],
                np.where(filled, clearing, np.nan)[sold],
                None,
                datetime.now(UTC),
                keep=pending.kept[sold],
            )
        if self.ledger.window_minutes >= self._every:
            self.flush()

    def flush(self) -> None:
        """Publish the current window and the running totals, then start a new window."""
        if self.ledger.window_minutes == 0:
            return
        self._publish(self.ledger.snapshot())
        self.ledger.reset_window()

    def close(self) -> None:
        """Release the event loop once no minute is being priced."""
        with self._busy:
            self._loop.close()


def _concat(chunks: list[Priced]) -> Priced:
    """One :class:`Priced` of a minute scored in several batches."""
    if len(chunks) == 1:
        return chunks[0]
    return Priced(
        np.concatenate([c.point for c in chunks]),
        np.concatenate([c.lower for c in chunks]),
        np.concatenate([c.upper for c in chunks]),
        np.concatenate([c.history for c in chunks]),
        np.concatenate([c.fallback for c in chunks]),
        [v for c in chunks for v in c.variant],
        [v for c in chunks for v in c.version],
    )


# -- the scenario -----------------------------------------------------------------------------


def ensure_champion(
    platform: Platform,
    stop: threading.Event,
    options: DemoOptions = DemoOptions(),
) -> tuple[ModelVersionInfo, float | None]:
    """The registry's champion, trained on a simulated history when there is none yet.

    Returns the champion and the seconds its training took (None when it already existed).
    Raises :class:`~ssmas.pricing.demo_model.TrainingStopped` once ``stop`` is set.
    """
    from ssmas.core.registry import CHAMPION, registry_from_settings
    from ssmas.pricing.demo_model import TrainingStopped, train_demo_model
    from ssmas.pricing.lifecycle.retraining import TRAINING_LOCK
    from ssmas.pricing.model.bundle import MODEL_NAME
    from ssmas.pricing.serving.hot_reload import MODEL_PROMOTED, publish_model_event

    settings = platform.settings
    with TRAINING_LOCK:
        if stop.is_set():
            raise TrainingStopped("stopped before the demo model was looked up")
        registry = registry_from_settings(settings)
        existing = registry.get_version_by_alias(MODEL_NAME, CHAMPION)
        if existing is not None:
            _log.info("pricing_demo_champion_exists", version=existing.version)
            return existing, None
        started = time.perf_counter()
        info = train_demo_model(
            settings,
            days=options.history_days,
            impressions_per_day=options.impressions_per_day,
            progress=lambda message: _log.info("pricing_demo_training", step=message),
            stop=stop,
        )
        seconds = time.perf_counter() - started
    _log.info("pricing_demo_model_trained", version=info.version, seconds=round(seconds, 1))
    try:
        publish_model_event(
            platform.bus, MODEL_PROMOTED, model=MODEL_NAME, version=info.version, actor=ACTOR
        )
    except BusError as exc:
        _log.warning("pricing_demo_event_not_published", error=str(exc)[:300])
    return info, seconds


def ensure_floor_configs(
    runtime: ServingRuntime, world: World, config: PublisherFloorConfig
) -> int:
    """Store ``config`` for every publisher that has none; returns how many were set."""
    now = datetime.now(UTC)
    count = 0
    for publisher_id in world.publisher_ids():
        if runtime.floors.stored(publisher_id) is None:
            runtime.floors.put(publisher_id, config, at=now, actor=ACTOR)
            count += 1
    return count


def bound_retention(runtime: ServingRuntime, hours: float) -> float | None:
    """Keep the serving tables' rows at most ``hours`` (never below the drift window) while the
    demo writes to them, unless ``SSMAS_PRICING_RETENTION_HOURS`` was set, which wins. Returns
    the retention it replaced, to put back when the demo stops (None when it left it alone)."""
    if "retention_hours" in runtime.config.model_fields_set:
        _log.info("pricing_demo_retention_configured", hours=runtime.pruner.retention_hours)
        return None
    previous = runtime.pruner.retention_hours
    _log.info("pricing_demo_retention", hours=runtime.pruner.limit(hours))
    return previous


def first_drift_report(
    runtime: ServingRuntime, stop: threading.Event, wait_s: float, retry_s: float
) -> dict[str, Any] | None:
    """Run the serving side's drift check (stored like its periodic runs) ``wait_s`` after the
    live floors started capturing, again every ``retry_s`` until a report is stored; returns it
    (None when ``stop`` came first or drift checks are off, ``drift_interval_s`` = 0)."""
    if runtime.config.drift_interval_s <= 0:
        return None
    wait = wait_s
    while not stop.wait(wait):
        wait = retry_s
        try:
            runtime.writer.flush()
            report = runtime.monitor.drift(runtime.config.drift_window_s)
        except Exception as exc:  # as the periodic check: a failed pass must not end the demo
            _log.warning("pricing_demo_drift_failed", error=repr(exc)[:300])
            continue
        if report.get("available"):
            _log.info("pricing_demo_drift", score=report["score"], level=report["level"])
            return report
        _log.info("pricing_demo_drift_waiting", reason=report.get("reason"))
    return None


def _wait_runtime(
    platform: Platform, stop: threading.Event, wait_s: float
) -> ServingRuntime | None:
    from ssmas.pricing.serving.runtime import started_serving_runtime

    deadline = time.monotonic() + wait_s
    while not stop.is_set():
        runtime = started_serving_runtime(platform)
        if runtime is not None or time.monotonic() >= deadline:
            return runtime
        stop.wait(0.2)
    return None


def _publisher(bus: Bus, path: Path) -> Callable[[dict[str, Any]], None]:
    def publish(snapshot: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot, indent=1))
        tmp.replace(path)
        key = f"live-floors:{snapshot['started_at']}:{snapshot['minutes']}"
        try:
            bus.publish(LIVE_TOPIC, snapshot, key=key)
        except BusError as exc:
            _log.warning("pricing_demo_live_event_failed", error=str(exc)[:300])

    return publish


def run_pricing_demo(
    platform: Platform, stop: threading.Event, options: DemoOptions = DemoOptions()
) -> DemoFloorProvider | None:
    """The scenario with explicit options; returns the provider it ran (None if stopped
    before pricing started)."""
    from ssmas.pricing.demo_model import TrainingStopped
    from ssmas.pricing.serving.runtime import build_serving_runtime

    runtime = _wait_runtime(platform, stop, options.runtime_wait_s)
    if stop.is_set():
        return None
    own = None
    if runtime is None:  # no API in this process (e.g. a worker): run a serving side here
        _log.info("pricing_demo_own_runtime")
        runtime = own = build_serving_runtime(platform)
        own.start()
    replaced = bound_retention(runtime, options.retention_hours)
    provider: DemoFloorProvider | None = None
    slot = floor_slot(platform)
    try:
        try:
            info, seconds = ensure_champion(platform, stop, options)
        except TrainingStopped:
            return None
        runtime.loader.refresh()
        world = build_world(42)
        configured = ensure_floor_configs(runtime, world, options.floor_config)
        ledger = FloorLedger()
        path = live_floors_path(platform.settings)
        base_publish = _publisher(platform.bus, path)
        extra = {
            "champion_version": str(info.version),
            "trained_seconds": None if seconds is None else round(seconds, 1),
            "floor_config": options.floor_config.model_dump(),
        }

        def publish(snapshot: dict[str, Any]) -> None:
            base_publish({**snapshot, **extra})

        provider = DemoFloorProvider(
            runtime,
            ledger,
            publish=publish,
            publish_every_min=options.publish_every_min,
            outcome_share=options.outcome_share,
        )
        slot.install(provider)
        _log.info(
            "pricing_demo_floors_live",
            champion=info.version,
            trained_seconds=extra["trained_seconds"],
            publishers_configured=configured,
        )
        first_drift_report(runtime, stop, options.first_drift_s, options.drift_retry_s)
        stop.wait()
        return provider
    finally:
        if provider is not None:
            slot.remove(provider)
            try:
                provider.flush()
            except OSError as exc:
                _log.warning("pricing_demo_flush_failed", error=str(exc)[:300])
        if replaced is not None:
            runtime.pruner.retention_hours = replaced
        if own is not None:
            own.close()


def run_demo(platform: Platform, stop: threading.Event) -> None:
    """``ssmas demo``'s pricing scenario (see the module docstring) until ``stop`` is set."""
    provider = run_pricing_demo(platform, stop)
    if provider is not None:
        provider.close()
