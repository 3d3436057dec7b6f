"""Model monitoring from captured traffic: feature drift over time and realised-CPM error.

Drift: the captured requests of a window are encoded with the champion's own feature encoder
and compared, feature by feature, with the training baselines stored in its feature schema
(KS for numbers, total variation for categories, PSI beside them; levels on the statistic:
``<= 0.3 OK``, ``> 0.3 INFO``, ``> 0.5 WARNING``, ``> 0.7 CRITICAL``). Each computation is kept in
``pricing_drift_reports`` (the history the dashboard plots) and exported as Prometheus gauges.
Realised error: posted outcomes joined to the predictions that priced them, per variant.
Alerts: each drift level, and the serving latency and fallback rate at every periodic check, go
to :class:`~ssmas.pricing.lifecycle.alerts.PricingAlerts` (deduplicated core notifiers).
Retention: :class:`Pruner` deletes captures, decisions and outcomes older than
``SSMAS_PRICING_RETENTION_HOURS`` (drift reports: ``SSMAS_PRICING_DRIFT_REPORT_RETENTION_HOURS``)
on its own daemon thread, a chunk at a time, so a drift run never blocks behind a long purge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from ssmas.core import metrics
from ssmas.pricing.lifecycle.alerts import PricingAlerts
from ssmas.pricing.lifecycle.drift import compute_drift
from ssmas.pricing.model.features import CYCLIC_FEATURES, FeatureEncoder
from ssmas.pricing.schemas import FloorRequest, PredictRequest
from ssmas.pricing.serving import store
from ssmas.pricing.serving.service import PricingService
from ssmas.settings import PricingSettings

MIN_ROWS = 50
PRUNE_PAUSE_S = 0.05  # between delete chunks: a capture writer waiting on SQLite's lock gets in
FIRST_PRUNE_DELAY_S = 60.0  # after start-up, then every prune_interval_s
_log = structlog.get_logger(__name__)

DRIFT_SCORE = metrics.gauge(
    "pricing", "drift_score", "ratio", "Global drift score (mean KS / TVD) of the last window"
)
FEATURE_DRIFT = metrics.gauge(
    "pricing", "feature_drift_score", "ratio", "Drift score (KS / TVD) per feature", ("feature",)
)
FEATURE_PSI = metrics.gauge(
    "pricing", "feature_psi", "ratio", "Population stability index per feature", ("feature",)
)
DRIFT_ROWS = metrics.gauge(
    "pricing", "drift_window_rows", "count", "Captured rows in the last drift window"
)
REALISED_MAE = metrics.gauge(
    "pricing", "realised_mae", "eur", "Mean |realised - predicted| CPM per variant", ("variant",)
)
REALISED_BIAS = metrics.gauge(
    "pricing", "realised_bias", "eur", "Mean (realised - predicted) CPM per variant", ("variant",)
)
PRUNED = metrics.counter(
    "pricing", "pruned_rows", "Serving rows deleted by retention", labels=("table",)
)


def encode_captured(rows: list[dict[str, Any]], encoder: FeatureEncoder) -> np.ndarray:
    """Captured request JSON as the encoder's float32 matrix (invalid rows are skipped).

    Captures come from ``/v2/predict`` and from the floor paths (``/v2/floor``, the demo's live
    floors), whose requests also carry ``publisher_id`` / ``data_points``: they are read as
    :class:`FloorRequest`, the superset, so a floor capture is not mistaken for an invalid one.
    """
    requests: list[PredictRequest] = []
    for row in rows:
        try:
            requests.append(FloorRequest.model_validate(row["request"]))
        except ValidationError:
            continue
    return encoder.encode_requests(requests)


class Monitor:
    """Computes drift and realised error from the serving tables of one database."""

    def __init__(
        self,
        engine: Engine,
        service: PricingService,
        *,
        min_rows: int = MIN_ROWS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        alerts: PricingAlerts | None = None,
    ) -> None:
        self.engine = engine
        self.service = service
        self.alerts = alerts
        self.min_rows = min_rows
        self.clock = clock

    def drift(self, window_s: float, *, save: bool = True) -> dict[str, Any]:
        """Drift of the last ``window_s`` of captured traffic against the champion's baselines.

        Returns ``{"available": False, "reason": ...}`` when it cannot be computed (no model,
        a model without baselines, too few captured rows).
        """
        end = self.clock()
        start = end - timedelta(seconds=window_s)
        slot = self.service.slot("champion")
        if slot is None:
            return {"available": False, "reason": "no champion model is loaded"}
        encoder = slot.scorer.encoder
        schema = encoder.schema
        if not schema.baselines:
            return {
                "available": False,
                "reason": f"model v{slot.version} has no training baselines",
            }
        rows = store.read_captures(self.engine, start, end)
        matrix = encode_captured(rows, encoder)
        if matrix.shape[0] < self.min_rows:
            return {
                "available": False,
                "reason": f"{matrix.shape[0]} captured requests in the window; "
                f"drift needs at least {self.min_rows}",
                "n_rows": int(matrix.shape[0]),
            }
        report = compute_drift(
            schema.baselines, matrix, schema.feature_names, cyclic=CYCLIC_FEATURES
        )
        DRIFT_SCORE.set(report.score)
        DRIFT_ROWS.set(report.n_rows)
        for feature in report.features:
            FEATURE_DRIFT.labels(feature.name).set(feature.score)
            FEATURE_PSI.labels(feature.name).set(feature.psi)
        if self.alerts is not None:
            self.alerts.drift(
                report.level, report.score, model_version=slot.version, n_rows=report.n_rows
            )
        body = report.model_dump(mode="json")
        if save:
            store.insert_rows(
                self.engine,
                store.drift_reports,
                [
                    {
                        "computed_at": end,
                        "window_start": start,
                        "window_end": end,
                        "model_version": slot.version,
                        "n_rows": report.n_rows,
                        "score": report.score,
                        "level": report.level,
                        "report": body,
                    }
                ],
            )
        return {
            "available": True,
            "computed_at": end.isoformat(),
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "model_version": slot.version,
            **body,
        }

    def timeline(self, limit: int = 48) -> list[dict[str, Any]]:
        """Stored drift reports, oldest first: global score, level and score per feature."""
        return [
            {
                "computed_at": row["computed_at"].isoformat(),
                "model_version": row["model_version"],
                "n_rows": row["n_rows"],
                "score": row["score"],
                "level": row["level"],
                "features": {f["name"]: f["score"] for f in row["report"].get("features", [])},
            }
            for row in store.recent_drift_reports(self.engine, limit=limit)
        ]

    def realised(self, window_s: float) -> dict[str, Any]:
        """Realised-CPM error per variant over outcomes received in the last ``window_s``."""
        end = self.clock()
        rows = store.read_outcomes(self.engine, end - timedelta(seconds=window_s), end)
        variants: dict[str, Any] = {}
        for name in sorted({str(r["variant"] or "unmatched") for r in rows}):
            mine = [r for r in rows if str(r["variant"] or "unmatched") == name]
            paired = [
                (r["clearing_cpm"], r["predicted_cpm"])
                for r in mine
                if r["filled"] and r["clearing_cpm"] is not None and r["predicted_cpm"] is not None
            ]
            entry: dict[str, Any] = {
                "outcomes": len(mine),
                "filled": sum(1 for r in mine if r["filled"]),
                "revenue_eur": round(sum(r["revenue_eur"] for r in mine), 6),
                "paired": len(paired),
                "mae_eur": None,
                "rmse_eur": None,
                "bias_eur": None,
            }
            if paired:
                err = np.array([y - p for y, p in paired], dtype=np.float64)
                entry.update(
                    mae_eur=round(float(np.mean(np.abs(err))), 4),
                    rmse_eur=round(float(np.sqrt(np.mean(err**2))), 4),
                    bias_eur=round(float(np.mean(err)), 4),
                )
                REALISED_MAE.labels(name).set(entry["mae_eur"])
                REALISED_BIAS.labels(name).set(entry["bias_eur"])
            variants[name] = entry
        return {"window_s": window_s, "variants": variants}

    def start(self, stop: threading.Event, interval_s: float, window_s: float) -> threading.Thread:
        """Compute drift and realised error every ``interval_s`` on a daemon thread until
        ``stop`` is set (nothing when ``interval_s`` is 0)."""

        def check() -> None:
            if self.alerts is not None:
                self.alerts.serving(self.service.stats.as_dict())
            self.drift(window_s)
            self.realised(window_s)

        return start_periodic(
            "ssmas-pricing-monitor", check, stop, interval_s, failure="pricing_monitor_failed"
        )


def start_periodic(
    name: str,
    task: Callable[[], object],
    stop: threading.Event,
    interval_s: float,
    *,
    first_wait_s: float | None = None,
    failure: str,
) -> threading.Thread:
    """Run ``task`` on a daemon thread ``first_wait_s`` (default ``interval_s``) after start,
    then every ``interval_s``, until ``stop`` is set; nothing is started when ``interval_s`` is
    0. A pass that raises is logged as ``failure`` and the next one runs on time (a bad window or
    a database away for a while must not end the thread)."""

    def run() -> None:
        wait = interval_s if first_wait_s is None else first_wait_s
        while not stop.wait(wait):
            try:
                task()
            except Exception as exc:
                _log.warning(failure, error=repr(exc)[:300])
            wait = interval_s

    thread = threading.Thread(target=run, name=name, daemon=True)
    if interval_s > 0:
        thread.start()
    return thread


class Pruner:
    """Keeps the serving tables within their retention (the role S3 lifecycle rules play for
    SageMaker's data capture): every ``interval_s`` it deletes what is past its cutoff.

    The retention of captures, decisions and outcomes never goes below the drift window (the
    configuration refuses it, :meth:`limit` clamps to it), so a drift run always finds its
    whole window. A retention of 0 keeps a table forever.
    """

    def __init__(
        self,
        engine: Engine,
        config: PricingSettings,
        *,
        chunk: int = store.PRUNE_CHUNK,
        pause_s: float = PRUNE_PAUSE_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.retention_hours = config.retention_hours
        self.drift_report_retention_hours = config.drift_report_retention_hours
        self.min_hours = config.drift_window_s / 3600.0
        self.chunk = chunk
        self.pause_s = pause_s
        self.clock = clock

    def limit(self, hours: float) -> float:
        """Keep captures, decisions and outcomes at most ``hours`` (not below the drift window;
        a shorter retention already in force stays); returns the retention now in force."""
        wanted = max(hours, self.min_hours)
        if self.retention_hours <= 0 or wanted < self.retention_hours:
            self.retention_hours = wanted
        return self.retention_hours

    def cutoffs(self) -> dict[sa.Table, datetime]:
        """Each pruned table's cutoff now (tables kept forever are left out)."""
        return store.retention_cutoffs(
            self.clock(), self.retention_hours, self.drift_report_retention_hours
        )

    def prune(
        self, *, dry_run: bool = False, stop: threading.Event | None = None
    ) -> dict[str, int]:
        """One pass over the tables: rows deleted (or that would be, ``dry_run``) per table,
        counted in ``ssmas_pricing_pruned_rows_total{table}`` chunk by chunk."""
        started = time.perf_counter()
        counts = store.prune(
            self.engine,
            self.cutoffs(),
            chunk=self.chunk,
            dry_run=dry_run,
            pause_s=self.pause_s,
            stop=stop,
            on_chunk=None if dry_run else lambda table, n: PRUNED.labels(table).inc(n),
        )
        if any(counts.values()):
            _log.info(
                "pricing_pruned",
                dry_run=dry_run,
                seconds=round(time.perf_counter() - started, 3),
                retention_hours=self.retention_hours,
                **counts,
            )
        return counts

    def start(self, stop: threading.Event, interval_s: float) -> threading.Thread:
        """Prune on a daemon thread shortly after start, then every ``interval_s``, until
        ``stop`` is set (nothing when ``interval_s`` is 0)."""
        return start_periodic(
            "ssmas-pricing-pruner",
            lambda: self.prune(stop=stop),
            stop,
            interval_s,
            first_wait_s=min(interval_s, FIRST_PRUNE_DELAY_S),
            failure="pricing_prune_failed",
        )
