"""The retraining workflow: seed 003's Step Functions machine as one Python function.

``CheckDataDrift`` → ``EvaluateDriftLevel`` (> 0.7 retrain now, > 0.5 schedule, else monitor;
and retrain now when the **price level** moved — the freshest day's clearing prices against
the champion's training prices of the same weekday and hour, beyond ``label_shift_above`` — or
when the champion's **error grew** — its RMSE on the freshest day beyond
``1 + error_growth_above`` times its held-out RMSE at training) →
``TriggerRetraining`` (a challenger on the freshest ``window_days`` of the lake) →
``EvaluateNewModel`` (challenger **and** champion scored on the same held-out blocks of that
window) → ``DecideDeployment``: a challenger whose offline RMSE is lower by at least
``min_improvement`` is deployed as **challenger** (it takes its share of live traffic); it becomes
champion only by :mod:`ssmas.pricing.lifecycle.promotion` (online evidence or an approved
operator) → record the decision (table + bus events). A scheduled retraining runs
when :func:`run_retrain_loop` finds it due; ``force`` skips the drift gate. Every change of the
registry's aliases is announced on ``pricing.models`` (:func:`publish_model_event`), so running
servers load the new champion or challenger at once.

Across processes (several ``ssmas worker pricing``, on several hosts) the loop runs in one
process at a time: the holder of the ``pricing:retrain`` lease in the shared database
(:class:`ssmas.core.leases.LeaderLease`, renewed every ``ttl / 3`` on a thread of its own, so a
training run longer than the lease keeps it). The others wait and take over within the lease's
ttl (:data:`LEADER_TTL_S`) when the leader stops. ``ssmas pricing retrain`` takes the same
lease for its run, so an operator's retraining never overlaps the worker's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.bus.base import Bus, BusError
from ssmas.core.leases import LeaderLease, LeaseStore
from ssmas.core.registry import CHALLENGER, CHAMPION, ModelRegistry, registry_exists
from ssmas.exchange import lake_days
from ssmas.pricing.demo_model import demo_lake_dir
from ssmas.pricing.lifecycle.drift import DriftReport, compute_drift, label_shift
from ssmas.pricing.lifecycle.price_level import price_level_shift
from ssmas.pricing.lifecycle.retrain_decisions import (
    RetrainDecision,
    Trigger,
    pending_schedule,
    record_decision,
)
from ssmas.pricing.model.bundle import MODEL_NAME, TARGET, PricingModel, load_from_registry
from ssmas.pricing.model.dataset import LakeError, LakeReader
from ssmas.pricing.model.features import CYCLIC_FEATURES
from ssmas.pricing.model.frame_columns import FeatureError
from ssmas.pricing.model.training import FEATURE_COLUMNS, evaluate_on_lake, train_from_lake
from ssmas.pricing.serving.hot_reload import (
    CHALLENGER_CHANGED,
    MODEL_PROMOTED,
    publish_model_event,
)

if TYPE_CHECKING:
    from ssmas.core.platform import Platform
    from ssmas.pricing.lifecycle.alerts import PricingAlerts
    from ssmas.settings import Settings

Clock = Callable[[], datetime]
PRICE_COLUMNS = (TARGET, "day_of_week", "hour_of_day")
_log = structlog.get_logger(__name__)
ACTOR = "retrain-workflow"
# One first-model training at a time in a process: the demo holds it while it trains its
# champion, so the worker does not bootstrap a second one from the same lake meanwhile.
TRAINING_LOCK = threading.Lock()
LEADER_LEASE = "pricing:retrain"
LEADER_TTL_S = 30.0
IDLE_WAIT_S = 5.0  # between two looks at whether a pass is due


class RetrainBusy(RuntimeError):
    """Another process holds the retraining lease (it is retraining or checking now)."""


def retrain_leader(
    sessions: sessionmaker[Session], *, ttl_s: float = LEADER_TTL_S, owner: str | None = None
) -> LeaderLease:
    """The retraining lease of this process (not taken yet)."""
    from ssmas.core.worker import consumer_name

    return LeaderLease(LeaseStore(sessions), LEADER_LEASE, owner or consumer_name(), ttl_s=ttl_s)


@contextmanager
def leading(sessions: sessionmaker[Session], *, ttl_s: float = LEADER_TTL_S) -> Iterator[None]:
    """Hold the retraining lease for the block (renewed meanwhile), or raise ``RetrainBusy``."""
    leader = retrain_leader(sessions, ttl_s=ttl_s)
    if not leader.renew():
        holders = leader.store.live(LEADER_LEASE)
        raise RetrainBusy(
            f"another process ({holders.get(LEADER_LEASE, 'unknown')}) holds the retraining "
            "lease: it is retraining or checking now; try again when it is done"
        )
    stop = threading.Event()
    thread = leader.start(stop)
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


class RetrainConfig(BaseModel):
    """Where the data is and how cautious the workflow is."""

    model_config = ConfigDict(extra="forbid")

    lake: Path
    window_days: int = Field(default=2, ge=1, le=60)
    schedule_delay_h: float = Field(default=6.0, ge=0.0)
    min_improvement: float = Field(default=0.0, ge=0.0, lt=1.0)
    label_shift_above: float = Field(default=0.1, gt=0.0, le=10.0)
    error_growth_above: float = Field(default=0.15, gt=0.0, le=10.0)
    drift_rows: int = Field(default=200_000, ge=100)
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    threads: int = Field(default=1, ge=1)


@dataclass
class RetrainDeps:
    """The adapters the workflow uses; built from a ``Platform`` or by a test."""

    registry: ModelRegistry
    sessions: sessionmaker[Session]
    bus: Bus | None = None
    clock: Clock = lambda: datetime.now(UTC)
    alerts: PricingAlerts | None = None

    def announce(self, event: str, version: int | str, *, actor: str = ACTOR) -> None:
        """Tell serving processes the aliases moved; a bus failure is logged, not raised (they
        also poll the registry)."""
        if self.bus is None:
            return
        try:
            publish_model_event(self.bus, event, model=MODEL_NAME, version=version, actor=actor)
        except BusError as exc:
            _log.warning("pricing.model_event_not_published", event=event, error=str(exc)[:300])


def check_drift(
    model: PricingModel, lake: Path, day: date, *, rows: int = 200_000, seed: int = 0
) -> DriftReport:
    """Drift of ``day``'s traffic (a seeded sample of auctions) against the model's baselines."""
    reader = LakeReader(lake, day, day)
    try:
        sample = reader.sample("all", rows, FEATURE_COLUMNS, seed=seed)
    finally:
        reader.close()
    if sample.num_rows == 0:
        raise LakeError(f"no auctions on {day} to check for drift")
    matrix = model.encoder.encode_frame(sample)
    return compute_drift(
        model.schema.baselines, matrix, model.schema.feature_names, cyclic=CYCLIC_FEATURES
    )


@dataclass(frozen=True)
class Signals:
    """What the champion sees on the freshest day: feature drift, price-level shift, error."""

    drift: DriftReport
    label_shift: float | None
    day_rmse: float | None
    trained_rmse: float | None

    @property
    def error_growth(self) -> float | None:
        if self.day_rmse is None or not self.trained_rmse:
            return None
        return self.day_rmse / self.trained_rmse - 1.0

    def urgent(self, config: RetrainConfig) -> list[str]:
        """The reasons to retrain now beyond feature drift (empty: none)."""
        reasons = []
        if self.label_shift is not None and abs(self.label_shift) > config.label_shift_above:
            reasons.append(f"price level moved {self.label_shift:+.1%}")
        growth = self.error_growth
        if growth is not None and growth > config.error_growth_above:
            reasons.append(f"champion RMSE grew {growth:+.1%} ({self.day_rmse:.4f} EUR)")
        return reasons


def check_signals(model: PricingModel, config: RetrainConfig, day: date) -> Signals:
    """Feature drift, label drift and error growth of ``model`` on ``day`` of the lake.

    The price level is compared like with like: each price against the champion's training
    prices of the same weekday and hour (:mod:`ssmas.pricing.lifecycle.price_level`), so a
    normal weekend moves nothing; a schema saved before those medians existed falls back to
    the median of all its training prices."""
    drift = check_drift(model, config.lake, day, rows=config.drift_rows, seed=config.seed)
    reader = LakeReader(config.lake, day, day)
    try:
        labels = reader.sample(
            "all", config.drift_rows, PRICE_COLUMNS, filled_only=True, seed=config.seed
        )
        try:
            day_rmse: float | None = float(evaluate_on_lake(model, reader, "all")["rmse"])
        except FeatureError:  # no filled impression that day
            day_rmse = None
    finally:
        reader.close()
    prices = labels.column(TARGET).to_numpy(zero_copy_only=False)
    levels, baseline = model.schema.label_levels, model.schema.label_baseline
    shift = None
    if levels is not None:
        shift = price_level_shift(
            levels,
            prices,
            labels.column("day_of_week").to_numpy(zero_copy_only=False),
            labels.column("hour_of_day").to_numpy(zero_copy_only=False),
        ).shift
    elif baseline is not None:
        shift = label_shift(baseline, prices)
    trained = model.metrics.get("test_rmse")
    return Signals(drift, shift, day_rmse, float(trained) if trained else None)


def _window(lake: Path, days: int) -> list[date]:
    available = lake_days(lake) if lake.exists() else []
    if not available:
        raise LakeError(f"no impressions in the lake at {lake}")
    return available[-days:]


def run_retrain(
    deps: RetrainDeps,
    config: RetrainConfig,
    *,
    force: bool = False,
    trigger: Trigger = "command",
) -> RetrainDecision:
    """One pass of the workflow; the decision is recorded and returned."""
    now = deps.clock()
    window = _window(config.lake, config.window_days)
    champion_info = deps.registry.get_version_by_alias(MODEL_NAME, CHAMPION)
    if champion_info is None:
        result = _train(deps, config, window, alias=CHAMPION, trigger=trigger)
        assert result.info is not None
        deps.announce(MODEL_PROMOTED, result.info.version)
        decision = RetrainDecision(
            decided_at=now,
            trigger=trigger,
            action="bootstrap",
            outcome="bootstrapped",
            challenger_version=result.info.version,
            challenger_rmse=result.metrics["test_rmse"],
            promoted=True,
            reason="no champion: the first model becomes champion",
            details={"window": [d.isoformat() for d in window], "metrics": result.metrics},
        )
        return record_decision(deps.sessions, deps.bus, decision)
    champion = load_from_registry(deps.registry, CHAMPION)
    signals = check_signals(champion, config, window[-1])
    drift = signals.drift
    urgent = signals.urgent(config)
    action = "retrain_now" if force or urgent else drift.action
    base = RetrainDecision(
        decided_at=now,
        trigger="forced" if force and trigger == "command" else trigger,
        drift_score=drift.score,
        drift_level=drift.level,
        action=action,
        outcome="monitoring",
        champion_version=champion_info.version,
        reason="; ".join(urgent),
        details={
            "window": [d.isoformat() for d in window],
            "drift_day": window[-1].isoformat(),
            "features": {f.name: round(f.score, 4) for f in drift.features},
            "label_shift": signals.label_shift,
            "champion_day_rmse": signals.day_rmse,
            "error_growth": signals.error_growth,
            "urgent": urgent,
        },
    )
    if base.action == "monitor_only":
        level = (
            "not judged (no training prices of this kind of day)"
            if signals.label_shift is None
            else f"{signals.label_shift:+.1%}"
        )
        reason = (
            f"drift {drift.score:.3f} ({drift.level}), price level {level}"
            f", error growth {signals.error_growth or 0:+.1%}: below the retraining thresholds"
        )
        return record_decision(deps.sessions, deps.bus, base.model_copy(update={"reason": reason}))
    if base.action == "schedule_retraining":
        due = now + timedelta(hours=config.schedule_delay_h)
        update = {
            "outcome": "scheduled",
            "scheduled_for": due,
            "reason": f"drift {drift.score:.3f} ({drift.level}): retraining due {due:%F %R} UTC",
        }
        return record_decision(deps.sessions, deps.bus, base.model_copy(update=update))
    return _challenge(deps, config, window, champion, base)


def _train(
    deps: RetrainDeps, config: RetrainConfig, window: list[date], *, alias: str, trigger: str
) -> Any:
    return train_from_lake(
        config.lake,
        window[0],
        window[-1],
        registry=deps.registry,
        params=config.params,
        seed=config.seed,
        threads=config.threads,
        alias=alias,
        split="blocks",
        tags={"trigger": trigger, "workflow": "retrain"},
    )


def _challenge(
    deps: RetrainDeps,
    config: RetrainConfig,
    window: list[date],
    champion: PricingModel,
    base: RetrainDecision,
) -> RetrainDecision:
    result = _train(deps, config, window, alias=CHALLENGER, trigger=base.trigger)
    assert result.info is not None
    reader = LakeReader(config.lake, window[0], window[-1], split="blocks")
    try:
        champion_metrics = evaluate_on_lake(champion, reader, "test")
    finally:
        reader.close()
    challenger_rmse = float(result.metrics["test_rmse"])
    champion_rmse = float(champion_metrics["rmse"])
    better = challenger_rmse < champion_rmse * (1.0 - config.min_improvement)
    verdict = (
        "better offline: deployed as challenger, promoted only on online evidence or approval"
        if better
        else "not better"
    )
    reason = (
        f"{base.reason + ': ' if base.reason else ''}challenger v{result.info.version} RMSE "
        f"{challenger_rmse:.4f} vs champion v{champion.version} {champion_rmse:.4f} on the "
        f"freshest held-out blocks: {verdict}"
    )
    deps.announce(CHALLENGER_CHANGED, result.info.version)
    details = {
        **base.details,
        "challenger_metrics": result.metrics,
        "champion_metrics": champion_metrics,
        "min_improvement": config.min_improvement,
    }
    decision = base.model_copy(
        update={
            "outcome": "challenger_deployed" if better else "kept_champion",
            "challenger_version": result.info.version,
            "challenger_rmse": challenger_rmse,
            "champion_rmse": champion_rmse,
            "promoted": False,
            "reason": reason,
            "details": details,
        }
    )
    return record_decision(deps.sessions, deps.bus, decision)


def retrain_config(settings: Settings) -> RetrainConfig:
    """Loop configuration from ``settings.pricing``: the lake (``SSMAS_PRICING_LAKE``, default
    ``<data_dir>/lake``, else the demo lake) and ``SSMAS_PRICING_RETRAIN_WINDOW_DAYS``."""
    lake = settings.pricing.lake or settings.data_dir / "lake"
    if settings.pricing.lake is None and not lake.exists():
        lake = demo_lake_dir(settings.data_dir)
    return RetrainConfig(
        lake=lake,
        window_days=settings.pricing.retrain_window_days,
        label_shift_above=settings.pricing.retrain_label_shift,
        error_growth_above=settings.pricing.retrain_error_growth,
    )


def due_trigger(
    deps: RetrainDeps, last_check: datetime | None, interval: timedelta
) -> Trigger | None:
    """What the loop should run now: a due scheduled retraining, a periodic check, or nothing."""
    now = deps.clock()
    pending = pending_schedule(deps.sessions)
    if pending is not None and pending.scheduled_for is not None and pending.scheduled_for <= now:
        return "scheduled"
    if last_check is None or now - last_check >= interval:
        return "schedule"
    return None


def run_retrain_loop(
    platform: Platform, stop: threading.Event, *, leader_ttl_s: float = LEADER_TTL_S
) -> None:
    """Background worker (the pricing product's `retrain`): check drift every
    ``SSMAS_PRICING_RETRAIN_INTERVAL_S`` (default 3600 s) and run due scheduled retrainings;
    every ``SSMAS_PRICING_PROMOTION_CHECK_INTERVAL_S`` (default 300 s) look at the live evidence
    and promote a challenger that proved its gain (:mod:`ssmas.pricing.lifecycle.promotion`).

    Idle, it costs one small query every 5 s (is a scheduled retraining due?). Without a lake
    or a model it logs why it skipped the pass and waits for the next one; no pass error stops
    it. While the demo trains its first model (:data:`TRAINING_LOCK`), passes wait. Only the
    process holding the retraining lease runs passes (the others keep trying to take it).
    """
    from ssmas.core.registry import registry_from_settings
    from ssmas.pricing.lifecycle.alerts import PricingAlerts
    from ssmas.pricing.lifecycle.promotion import check_online_promotion, policy_from_settings

    section = platform.settings.pricing
    interval = timedelta(seconds=section.retrain_interval_s)
    promotion_interval = timedelta(seconds=section.promotion_check_interval_s)
    policy = policy_from_settings(
        section.promotion_min_gain, section.promotion_alpha, section.promotion_min_outcomes
    )
    # The registry client is created on first use, so no MLflow database appears before a lake.
    deps = RetrainDeps(
        registry_from_settings(platform.settings, bus=platform.bus),
        platform.session_factory,
        platform.bus,
        alerts=PricingAlerts.from_settings(section),
    )
    last_check: datetime | None = None
    last_promotion_check = deps.clock()
    leader = retrain_leader(platform.session_factory, ttl_s=leader_ttl_s)
    leader.start(stop)
    while not stop.wait(IDLE_WAIT_S if last_check is not None else 1.0):
        if not leader.is_leader():
            continue
        if (
            promotion_interval.total_seconds() > 0
            and deps.clock() - last_promotion_check >= promotion_interval
            and registry_exists(platform.settings)
        ):
            last_promotion_check = deps.clock()
            try:
                evidence, promoted = check_online_promotion(deps, platform.engine, policy)
                if promoted is not None:
                    _log.info("pricing.online_promotion", reason=promoted.reason)
                elif evidence is not None:
                    _log.debug("pricing.online_evidence", verdict=evidence.verdict)
            except Exception:  # no registry yet, database away: try on the next period
                _log.exception("pricing.promotion_check_failed")
        try:
            trigger = due_trigger(deps, last_check, interval)
        except Exception:  # the database may be briefly unavailable: try again later
            _log.exception("pricing.retrain_check_failed")
            continue
        if trigger is None or not TRAINING_LOCK.acquire(blocking=False):
            continue
        try:
            last_check = deps.clock()
            config = retrain_config(platform.settings)
            decision = run_retrain(deps, config, force=trigger == "scheduled", trigger=trigger)
            _log.info("pricing.retrain", outcome=decision.outcome, reason=decision.reason)
        except (LakeError, ValueError) as exc:
            _log.info("pricing.retrain_skipped", reason=str(exc))
        except Exception:  # a worker must survive one bad pass
            _log.exception("pricing.retrain_failed")
        finally:
            TRAINING_LOCK.release()
