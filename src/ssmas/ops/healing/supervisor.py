"""``ssmas up``'s worker supervisor: every worker a process, checked, healed, and alerted on.

Each product worker (``WorkerSpec``) runs as ``ssmas worker PRODUCT --only NAME`` in a process
of its own, serving its metrics on a port the supervisor picks. Every ``check_interval_s`` the
supervisor reads each process's ``/metrics`` (``ssmas.ops.healing.probe``) and, between checks,
notices at once a process that has ended. The seed's self-healing (000, "Self-Healing System
Implementation": error rate, latency, memory pressure, queue backlog) adapted to processes:

==========================  ==================================================================
what it sees                what it does
==========================  ==================================================================
process ended (crash, kill) restart after a backoff that doubles per restart in the window
no heartbeat                (``/metrics`` silent, or its heartbeat older than the timeout)
                            SIGKILL, then restart as above
resident memory too high    SIGTERM (SIGKILL if it lingers), then restart
error rate or latency high  restart once; still high after it: open the circuit breaker
crash loop                  (``crash_loop_restarts`` restarts within the window) open the
                            breaker: no restart for ``breaker_s`` (doubling each reopening),
                            then one try (half-open); running ``stable_s`` closes it; an
                            operator may close it at once (:meth:`Supervisor.reset_breaker`)
backlog deep or old         add a replica (up to the worker's ``max_replicas``); shallow and
                            young again: remove one (down to one), ``scale_cooldown_s`` apart
backlog past shed depth     at full scale: shed the product's API writes for ``shed_s``
                            (503 + Retry-After, ``ssmas.core.api.shed``)
healing fails               alert through the core's notifiers (breaker opened, shedding);
                            a resolution when the breaker closes
==========================  ==================================================================

An open breaker on a bus consumer keeps its messages on the bus (nothing is dead-lettered by a
worker that cannot handle them) until the worker runs again. Every action goes to the
:class:`~ssmas.ops.healing.journal.HealingJournal` (log line, counter, the journal in the database).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from ssmas.core import metrics
from ssmas.core.notify import Notification, Notifier, Severity
from ssmas.ops.healing.journal import ACTIONS_TOTAL, HealingAction, HealingJournal
from ssmas.ops.healing.probe import Sample, scrape
from ssmas.settings import SUPERVISOR_PID_ENV

if TYPE_CHECKING:
    from ssmas.core.api.shed import LoadShed
    from ssmas.core.product import Product
    from ssmas.settings import OpsSettings

__all__ = [
    "BreakerNotOpen",
    "HealingPolicy",
    "Replica",
    "Supervisor",
    "UnknownWorker",
    "WorkerUnit",
    "backoff_s",
    "product_units",
]

log = structlog.get_logger("ssmas.ops.healing")

POLL_S = 0.2
PORT_ARGS = ("--metrics-port", "{port}")
STOP_TIMEOUT_S = 10.0

REPLICAS = metrics.gauge(
    "ops", "worker_replicas", "count", "Worker processes the supervisor runs", labels=("worker",)
)
BREAKER_OPEN = metrics.gauge(
    "ops",
    "worker_breaker_open",
    "count",
    "Worker processes whose circuit breaker is open (not restarted until it half-opens)",
    labels=("worker",),
)


class UnknownWorker(LookupError):
    """The supervisor runs no worker of that name."""


class BreakerNotOpen(ValueError):
    """The worker's breaker is closed: there is nothing to reset."""


@dataclass(frozen=True)
class HealingPolicy:
    """The thresholds and waits of the supervisor (``SSMAS_OPS_HEAL_*``, docs/settings.md)."""

    check_interval_s: float = 2.0
    start_grace_s: float = 60.0
    heartbeat_timeout_s: float = 20.0
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    crash_loop_restarts: int = 5
    crash_loop_window_s: float = 120.0
    breaker_s: float = 300.0
    max_rss_mb: float = 2048.0
    error_rate: float = 0.5
    error_min: int = 20
    latency_s: float = 30.0
    scale_depth: int = 1000
    scale_age_s: float = 300.0
    scale_cooldown_s: float = 60.0
    shed_depth: int = 5000
    shed_s: float = 30.0

    @property
    def stable_s(self) -> float:
        """How long a half-open worker must run to close its breaker."""
        return min(self.crash_loop_window_s, max(5.0, 3 * self.check_interval_s))

    @classmethod
    def from_settings(cls, ops: OpsSettings) -> HealingPolicy:
        return cls(
            check_interval_s=ops.heal_check_interval_s,
            start_grace_s=ops.heal_start_grace_s,
            heartbeat_timeout_s=ops.heal_heartbeat_timeout_s,
            backoff_s=ops.heal_backoff_s,
            backoff_max_s=ops.heal_backoff_max_s,
            crash_loop_restarts=ops.heal_crash_loop_restarts,
            crash_loop_window_s=ops.heal_crash_loop_window_s,
            breaker_s=ops.heal_breaker_s,
            max_rss_mb=ops.heal_max_rss_mb,
            error_rate=ops.heal_error_rate,
            error_min=ops.heal_error_min,
            latency_s=ops.heal_latency_s,
            scale_depth=ops.heal_scale_depth,
            scale_age_s=ops.heal_scale_age_s,
            scale_cooldown_s=ops.heal_scale_cooldown_s,
            shed_depth=ops.heal_shed_depth,
            shed_s=ops.heal_shed_s,
        )


def backoff_s(policy: HealingPolicy, recent_restarts: int) -> float:
    """The wait before a restart when ``recent_restarts`` happened within the window."""
    return float(min(policy.backoff_max_s, policy.backoff_s * 2 ** max(0, recent_restarts)))


@dataclass(frozen=True)
class WorkerUnit:
    """One supervised worker: its command (``{port}`` stands for its metrics port), the product
    it belongs to, the bus groups it drains and how many processes may run it."""

    name: str
    product: str
    argv: tuple[str, ...]
    groups: tuple[str, ...] = ()
    max_replicas: int = 1

    def command(self, port: int) -> list[str]:
        return [part.replace("{port}", str(port)) for part in self.argv]


def product_units(products: Sequence[Product], python: str) -> list[WorkerUnit]:
    """One unit per worker of ``products``: ``ssmas worker PRODUCT --only NAME``."""
    return [
        WorkerUnit(
            name=f"{p.name}.{w.name}",
            product=p.name,
            argv=(python, "-m", "ssmas", "worker", p.name, "--only", w.name, *PORT_ARGS),
            groups=w.groups,
            max_replicas=w.max_replicas,
        )
        for p in products
        for w in p.workers
    ]


@dataclass
class Replica:
    """One process slot of a unit, and what the supervisor knows about it."""

    unit: WorkerUnit
    slot: int
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    state: str = "pending"  # pending | running | backoff | open | stopping
    due: float = 0.0  # when a pending / backoff / open replica starts
    started: float = 0.0
    last_ok: float = 0.0
    restarts: deque[float] = field(default_factory=deque)
    opens: int = 0
    half_open: bool = False
    strikes: int = 0
    then: str = "restart"  # what its exit leads to: restart | open | remove
    why: str = ""
    term_at: float | None = None
    sample: Sample | None = None
    exit_code: int | None = None
    spawns: int = 0

    @property
    def label(self) -> str:
        return self.unit.name if self.slot == 0 else f"{self.unit.name}#{self.slot}"


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class Supervisor:
    """Runs ``units`` as processes and heals them by ``policy`` (see the module docstring)."""

    def __init__(
        self,
        units: Sequence[WorkerUnit],
        policy: HealingPolicy,
        *,
        env: Mapping[str, str],
        journal: HealingJournal,
        notifier: Notifier,
        host: str = "127.0.0.1",
        shed: LoadShed | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.units = list(units)
        self.policy = policy
        self.journal = journal
        self.notifier = notifier
        # a worker whose parent is no longer this process stops (ssmas.server.run_workers)
        self.env = {**env, SUPERVISOR_PID_ENV: str(os.getpid())}
        self.bind_host = host
        self.host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.shed = shed
        self.clock = clock
        self.replicas: list[Replica] = [Replica(u, 0) for u in self.units]
        for unit in self.units:  # at 0 from the start, so the first failure is an increase
            for action in ("restart", "alert"):
                ACTIONS_TOTAL.labels(action, unit.name, "failed")
        self._lock = threading.RLock()
        self._client = httpx.Client(timeout=min(5.0, max(0.5, policy.check_interval_s)))
        self._alerts = ThreadPoolExecutor(1, thread_name_prefix="ssmas-heal-alert")
        self._scrapes = ThreadPoolExecutor(4, thread_name_prefix="ssmas-heal-scrape")
        self._next_check = 0.0
        self._scaled: dict[str, float] = {}
        self._shedding: dict[str, float] = {}
        self._closed = False

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Start every unit, then heal until ``stop`` is set; the children stop with it."""
        log.info("supervisor_started", workers=[u.name for u in self.units])
        try:
            while not self._closed:
                try:
                    self.step()
                except Exception:  # the supervisor must outlive any one bad pass
                    log.exception("supervisor_step_failed")
                if stop.wait(POLL_S):
                    break
        finally:
            self.close()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, args=(stop,), name="ssmas-supervisor", daemon=True
        )
        thread.start()
        return thread

    def step(self) -> None:
        """One pass: reap ended processes, start due ones, and (every interval) check health."""
        with self._lock:
            if self._closed:
                return
            now = self.clock()
            for r in list(self.replicas):
                self._watch(r, now)
            if now >= self._next_check:
                self._next_check = now + self.policy.check_interval_s
                running = [r for r in self.replicas if r.state == "running"]
                # scraped at once: one hung worker does not hold up the others' checks
                samples = list(
                    self._scrapes.map(lambda r: scrape(self._client, self.host, r.port), running)
                )
                for r, sample in zip(running, samples, strict=True):
                    self._check(r, sample, now)
                for unit in self.units:
                    self._scale(unit, now)
            self._gauges()

    def close(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after a wait); safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            procs = [r.proc for r in self.replicas if r.proc is not None]
            for r in self.replicas:
                r.state = "stopping"
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._alerts.shutdown(wait=True)
        self._scrapes.shutdown(wait=True)
        self._client.close()
        log.info("supervisor_stopped")

    # -- processes --------------------------------------------------------------------------

    def _spawn(self, r: Replica, now: float) -> bool:
        r.port = _free_port(self.bind_host)
        try:
            r.proc = subprocess.Popen(r.unit.command(r.port), env=self.env, start_new_session=True)
        except OSError as exc:
            r.proc = None
            r.state, r.due = "backoff", now + backoff_s(self.policy, len(r.restarts))
            r.restarts.append(now)
            self._record("restart", r, "failed", f"could not start: {exc}")
            return False
        r.state, r.started, r.last_ok, r.sample = "running", now, now, None
        r.then, r.why, r.term_at, r.exit_code = "restart", "", None, None
        r.spawns += 1
        return True

    def _terminate(self, r: Replica, then: str, why: str, *, force: bool = False) -> None:
        if r.proc is None or r.proc.poll() is not None or r.term_at is not None:
            return
        r.then, r.why, r.term_at = then, why, self.clock()
        if force:
            r.proc.kill()
        else:
            r.proc.terminate()

    def _watch(self, r: Replica, now: float) -> None:
        if r.proc is not None:
            code = r.proc.poll()
            if code is None:
                if r.term_at is not None and now - r.term_at > STOP_TIMEOUT_S:
                    r.proc.kill()
                elif r.half_open and now - r.started >= self.policy.stable_s:
                    self._close_breaker(r)
                return
            r.proc, r.exit_code = None, code
            self._exited(r, code, now)
            return
        if r.state in ("pending", "backoff", "open") and now >= r.due:
            first = r.state == "pending"
            if r.state == "open":
                r.half_open = True
            reason = "breaker half-open: one try" if r.half_open else r.why or "restart"
            if self._spawn(r, now) and not first:
                self._record("restart", r, "ok", reason, spawns=r.spawns)

    def _exited(self, r: Replica, code: int, now: float) -> None:
        why = f"{r.why}; exited with code {code}" if r.why else f"exited with code {code}"
        if r.state == "stopping" or r.then == "remove":
            self.replicas.remove(r)
            return
        if r.then == "open":
            self._open_breaker(r, now, why)
            return
        window = self.policy.crash_loop_window_s
        while r.restarts and now - r.restarts[0] > window:
            r.restarts.popleft()
        if r.half_open or len(r.restarts) >= self.policy.crash_loop_restarts:
            loop = (
                "failed again after its breaker half-opened"
                if r.half_open
                else f"crash loop: {len(r.restarts)} restarts in {window:g} s"
            )
            self._record("restart", r, "failed", f"{why}; {loop}", exit_code=code)
            self._open_breaker(r, now, f"{why}; {loop}")
            return
        delay = backoff_s(self.policy, len(r.restarts))
        r.restarts.append(now)
        r.state, r.due, r.why = "backoff", now + delay, f"{why}; restarted after {delay:g} s"
        log.info("worker_exited", worker=r.label, code=code, restart_in_s=delay, reason=why)

    def _open_breaker(self, r: Replica, now: float, why: str) -> None:
        pause = self.policy.breaker_s * 2**r.opens
        r.opens += 1
        r.half_open = False
        r.state, r.due, r.why = "open", now + pause, why
        self._record("open_breaker", r, "ok", why, pause_s=pause, opened=r.opens)
        self._alert(
            r.unit.name,
            "critical",
            f"ssmas-heal-{r.label}",
            f"Worker {r.label} failed to heal: breaker open for {pause:g} s",
            f"{why}. The supervisor will not restart it for {pause:g} s, then try once. "
            "Its messages wait on the bus meanwhile.",
        )

    def _close_breaker(
        self,
        r: Replica,
        reason: str = "ran stable after half-open",
        body: str = "The worker ran stable after its breaker half-opened.",
        **detail: Any,
    ) -> None:
        r.half_open, r.opens, r.strikes = False, 0, 0
        r.restarts.clear()
        self._record("close_breaker", r, "ok", reason, **detail)
        self._alert(
            r.unit.name,
            "critical",
            f"ssmas-heal-{r.label}",
            f"Worker {r.label} healed: breaker closed",
            body,
            resolved=True,
        )

    def reset_breaker(self, worker: str, actor: str) -> list[dict[str, Any]]:
        """An operator closes ``worker``'s open (or half-open) breaker: each such replica starts
        at once with a clean slate (no restarts in the window; a later opening waits
        ``breaker_s`` again). Journalled as ``close_breaker`` (and ``restart`` for a replica
        that was stopped) with the ``actor``; the breaker's alert is resolved. Returns the
        worker's replicas' status; :class:`UnknownWorker` or :class:`BreakerNotOpen` refuse."""
        with self._lock:
            if worker not in {u.name for u in self.units}:
                known = ", ".join(u.name for u in self.units) or "none"
                raise UnknownWorker(f"no supervised worker {worker!r} (workers: {known})")
            tripped = [
                r
                for r in self.replicas
                if r.unit.name == worker and (r.state == "open" or r.half_open)
            ]
            if not tripped:
                raise BreakerNotOpen(f"the breaker of {worker} is closed: nothing to reset")
            now = self.clock()
            reason = f"reset by {actor}"
            for r in tripped:
                stopped = r.state == "open"
                body = f"An operator ({actor}) closed the breaker" + (
                    " and restarted the worker." if stopped else "."
                )
                self._close_breaker(r, reason, body, actor=actor)
                if stopped:
                    r.why = reason
                    if self._spawn(r, now):
                        self._record("restart", r, "ok", reason, actor=actor, spawns=r.spawns)
            self._gauges()
        return [s for s in self.status() if s["worker"] == worker]

    # -- health checks ----------------------------------------------------------------------

    def _check(self, r: Replica, sample: Sample | None, now: float) -> None:
        p = self.policy
        in_grace = now - r.started < p.start_grace_s
        if sample is None:
            silent = now - max(r.last_ok, r.started + p.start_grace_s)
            if not in_grace and silent > p.heartbeat_timeout_s:
                self._terminate(
                    r, "restart", f"no heartbeat: /metrics silent {silent:.0f} s", force=True
                )
            return
        r.last_ok = now
        previous, r.sample = r.sample, sample
        if sample.heartbeat is not None and not in_grace:
            stale = time.time() - sample.heartbeat
            if stale > p.heartbeat_timeout_s:
                self._terminate(r, "restart", f"heartbeat {stale:.0f} s old", force=True)
                return
        if sample.rss_bytes is not None and sample.rss_bytes > p.max_rss_mb * 1024 * 1024:
            rss_mb = sample.rss_bytes / 1024 / 1024
            self._terminate(r, "restart", f"memory: {rss_mb:.0f} MB > {p.max_rss_mb:g} MB")
            return
        if previous is None:
            return
        done = (sample.acked - previous.acked) + (sample.nacked - previous.nacked)
        if done <= 0:
            return
        failed = (sample.nacked - previous.nacked) / done
        mean_s = (sample.handling_s - previous.handling_s) / done
        problem = ""
        if done >= p.error_min and failed > p.error_rate:
            problem = f"error rate {failed:.0%} of {done:.0f} deliveries > {p.error_rate:.0%}"
        elif mean_s > p.latency_s:
            problem = f"latency: {mean_s:.1f} s per delivery > {p.latency_s:g} s"
        if not problem:
            if done >= p.error_min:
                r.strikes = 0
            return
        r.strikes += 1
        if r.strikes == 1:
            self._terminate(r, "restart", problem)
        else:
            self._terminate(r, "open", f"{problem}, still after a restart")

    def _scale(self, unit: WorkerUnit, now: float) -> None:
        if not unit.groups:
            return
        mine = [r for r in self.replicas if r.unit is unit and r.then != "remove"]
        samples = [r.sample for r in mine if r.state == "running" and r.sample is not None]
        if not samples:
            return
        p = self.policy
        depth, age = max((s.backlog_of(unit.groups) for s in samples), key=lambda d: d[0])
        deep = depth >= p.scale_depth or age >= p.scale_age_s
        calm = now - self._scaled.get(unit.name, -1e18) >= p.scale_cooldown_s
        broken = any(r.state == "open" for r in mine)  # more copies of a failing worker: no
        if deep and len(mine) < unit.max_replicas and calm and not broken:
            slot = 1 + max(r.slot for r in mine) if mine else 0
            added = Replica(unit, slot)
            self.replicas.append(added)
            self._scaled[unit.name] = now
            if self._spawn(added, now):
                why = f"backlog {depth:.0f} messages, oldest {age:.0f} s"
                self._record("scale_up", added, "ok", why, replicas=len(mine) + 1)
        elif depth < p.scale_depth / 10 and age < p.scale_age_s / 10 and len(mine) > 1 and calm:
            newest = max(mine, key=lambda r: r.slot)
            self._scaled[unit.name] = now
            self._terminate(newest, "remove", "backlog drained")
            if newest.proc is None:
                self.replicas.remove(newest)
            why = f"backlog {depth:.0f} messages, oldest {age:.0f} s"
            self._record("scale_down", newest, "ok", why, replicas=len(mine) - 1)
        if depth >= p.shed_depth and len(mine) >= unit.max_replicas:
            self._shed_load(unit, now, depth)

    def _shed_load(self, unit: WorkerUnit, now: float, depth: float) -> None:
        p = self.policy
        episode = self._shedding.get(unit.product, -1e18) > now
        self._shedding[unit.product] = now + p.shed_s
        why = f"backlog {depth:.0f} > {p.shed_depth} at {unit.max_replicas} replicas"
        if self.shed is not None:
            self.shed.shed(unit.product, p.shed_s, why)
        if episode:
            return  # an episode running: extended, not recorded again
        outcome = "ok" if self.shed is not None else "skipped"
        self._record("shed_load", Replica(unit, 0), outcome, why, seconds=p.shed_s)
        self._alert(
            unit.name,
            "warning",
            f"ssmas-shed-{unit.product}",
            f"{unit.product} sheds load: {unit.name} cannot keep up",
            f"{why}. Writes to {unit.product}'s API are refused with 503 and Retry-After "
            f"for {p.shed_s:g} s at a time while it lasts.",
        )

    # -- records ----------------------------------------------------------------------------

    @staticmethod
    def _pid(r: Replica) -> int | None:
        return r.proc.pid if r.proc is not None else None

    def _record(self, action: str, r: Replica, outcome: str, reason: str, **detail: Any) -> None:
        detail.setdefault("pid", self._pid(r))
        if r.slot:
            detail["slot"] = r.slot
        self.journal.record(HealingAction.now(action, r.unit.name, outcome, reason, **detail))

    def _alert(
        self,
        worker: str,
        severity: Severity,
        key: str,
        title: str,
        body: str,
        *,
        resolved: bool = False,
    ) -> None:
        note = Notification(
            title=title,
            body=body,
            severity=severity,
            source="ssmas.ops.healing",
            dedup_key=key,
            fields={"worker": worker},
            resolved=resolved,
        )

        def send() -> None:
            try:
                self.notifier.send(note)
            except Exception as exc:  # NotifyError, or a notifier's bug: recorded, not raised
                self.journal.record(
                    HealingAction.now("alert", worker, "failed", title, error=str(exc)[:300])
                )
            else:
                kind = "resolved" if resolved else severity
                self.journal.record(HealingAction.now("alert", worker, "ok", title, kind=kind))

        if not self._closed:
            self._alerts.submit(send)

    def _gauges(self) -> None:
        for unit in self.units:
            mine = [r for r in self.replicas if r.unit is unit]
            REPLICAS.labels(unit.name).set(sum(1 for r in mine if r.proc is not None))
            BREAKER_OPEN.labels(unit.name).set(sum(1 for r in mine if r.state == "open"))

    def status(self) -> list[dict[str, Any]]:
        """Each replica: worker, slot, state, pid, restarts in the window, memory, uptime."""
        with self._lock:
            now = self.clock()
            return [
                {
                    "worker": r.unit.name,
                    "slot": r.slot,
                    "state": "half-open" if r.half_open else r.state,
                    "pid": self._pid(r),
                    "restarts": len(r.restarts),
                    "breaker_opens": r.opens,
                    "uptime_s": round(now - r.started, 1) if r.proc is not None else None,
                    "rss_mb": (
                        round(r.sample.rss_bytes / 1024 / 1024, 1)
                        if r.sample is not None and r.sample.rss_bytes is not None
                        else None
                    ),
                    "next_try_in_s": (
                        round(r.due - now, 1) if r.state in ("backoff", "open") else None
                    ),
                    "reason": r.why,
                }
                for r in self.replicas
            ]
