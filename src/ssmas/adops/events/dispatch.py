"""Match an event against the rules and deliver it to each matched rule's targets.

Each (event, rule, target) is one delivery with a key. A key the ledger holds is skipped (a
redelivered event alerts nobody twice); otherwise the target's handler runs under the target's
retry policy (``ssmas.core.retry``, full-jitter backoff) and the key is recorded. A target that
still fails goes to the dead-letter topic ``<events topic>.dlq`` with the reason (the bus's own
``dlq-*`` headers), and is recorded as dead so a redelivery does not try it again. ``topic``
deliveries are not recorded: their publish is keyed by the delivery key, which the bus stores
once.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from ssmas.adops.events.envelope import Event
from ssmas.adops.events.ledger import DeliveryLedger
from ssmas.adops.events.rules import CompiledRule, CompiledTarget, RuleSet
from ssmas.adops.events.targets import TargetCall, TargetFailed, TargetRegistry
from ssmas.adops.events.transform import compile_key, fill_key, resolve_path
from ssmas.core.bus import Bus, dlq_topic
from ssmas.core.bus.base import HEADER_ATTEMPTS, HEADER_ERROR, HEADER_ID, HEADER_TOPIC
from ssmas.core.notify import NotifyError
from ssmas.core.retry import Attempt, Retrier, Retry, RetryPolicy

__all__ = ["DispatchReport", "Dispatcher", "delivery_key"]

log = structlog.get_logger(__name__)
EVENTS_TOPIC = "adops.events"
MAX_KEY = 400
SELF_DEDUPLICATING = frozenset({"topic"})


def _bounded(key: str) -> str:
    """Keys beyond the bus's limit become their SHA-256 (still one per delivery)."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def delivery_key(event: Event, rule: str, target: str) -> str:
    """The idempotency key of one delivery; a replay's deliveries carry the replay's name."""
    key = f"{event.id}/{rule}/{target}"
    if event.replay_name:
        key += f"/replay:{event.replay_name}"
    return _bounded(key)


@dataclass
class DispatchReport:
    """What dispatching one or more events did."""

    events: int = 0
    matched: int = 0  # (event, rule) pairs
    delivered: int = 0
    skipped: int = 0  # done before (a redelivery or a folded notification)
    dead: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def add(self, other: DispatchReport) -> None:
        self.events += other.events
        self.matched += other.matched
        self.delivered += other.delivered
        self.skipped += other.skipped
        self.dead += other.dead
        for name, count in other.by_rule.items():
            self.by_rule[name] = self.by_rule.get(name, 0) + count


def _retryable(attempt: Attempt[None]) -> Retry | None:
    error = attempt.error
    if error is None:
        return None
    if isinstance(error, TargetFailed | NotifyError) and not error.retryable:
        return None
    return Retry()


def target_input(target: CompiledTarget, document: dict[str, Any], rule: str) -> Any:
    """What the target receives: the event, its input path, or its filled template."""
    if target.transformer is not None:
        return target.transformer.apply(document, rule)
    if target.path is not None:
        return resolve_path(document, target.path)
    return document


class Dispatcher:
    """Delivers events to the targets of the rules they match (see the module docstring)."""

    def __init__(
        self,
        rules: RuleSet,
        registry: TargetRegistry,
        bus: Bus,
        ledger: DeliveryLedger,
        *,
        topic: str = EVENTS_TOPIC,
        base_s: float = 0.2,
        cap_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rules = rules
        self.registry = registry
        self.bus = bus
        self.ledger = ledger
        self.topic = topic
        self._base_s = base_s
        self._cap_s = cap_s
        self._sleep = sleep
        self._retriers: dict[int, Retrier] = {}
        self._keys = {
            (r.name, t.spec.id): compile_key(t.spec.dedup_key)
            for r in rules.rules
            for t in r.targets
            if t.spec.dedup_key is not None
        }

    def _key(self, event: Event, document: dict[str, Any], rule: str, t: CompiledTarget) -> str:
        parts = self._keys.get((rule, t.spec.id))
        if parts is None:
            return delivery_key(event, rule, t.spec.id)
        # notifications fold by their dedup key, per window of the event's time
        key = f"dedup/{rule}/{t.spec.id}/{fill_key(parts, document)}"
        if t.spec.dedup_window_s > 0:
            key += f"@{int(event.time.timestamp() // t.spec.dedup_window_s)}"
        if event.replay_name:
            key += f"/replay:{event.replay_name}"
        return _bounded(key)

    def _retrier(self, max_attempts: int) -> Retrier:
        found = self._retriers.get(max_attempts)
        if found is None:
            policy = RetryPolicy(max_attempts=max_attempts, base_s=self._base_s, cap_s=self._cap_s)
            found = Retrier(policy, sleep=self._sleep, rng=random.Random())
            self._retriers[max_attempts] = found
        return found

    def dispatch(
        self,
        event: Event,
        *,
        only_rule: str | None = None,
        refresh: bool = True,
        document: dict[str, Any] | None = None,
        flush: bool = True,
    ) -> DispatchReport:
        """Deliver ``event`` to every enabled matching rule (or only ``only_rule``);
        ``document`` is ``event.document()`` when the caller has it already. With
        ``flush=False`` the caller calls ``registry.flush()`` before acknowledging."""
        if refresh:
            self.ledger.refresh()
        if document is None:
            document = event.document()
        report = DispatchReport(events=1)
        for rule in self.rules.matching(document):
            if only_rule is not None and rule.name != only_rule:
                continue
            report.matched += 1
            report.by_rule[rule.name] = report.by_rule.get(rule.name, 0) + 1
            for target in rule.targets:
                self._deliver(event, document, rule, target, report)
        if flush:
            self.registry.flush()
        return report

    def _deliver(
        self,
        event: Event,
        document: dict[str, Any],
        rule: CompiledRule,
        target: CompiledTarget,
        report: DispatchReport,
    ) -> None:
        spec = target.spec
        key = self._key(event, document, rule.name, target)
        if self.ledger.outcome(key) is not None:
            report.skipped += 1
            return
        handler = self.registry.handler(spec.type)
        attempts = 0
        reason = ""
        if handler is None:
            known = ", ".join(self.registry.names())
            reason = f"no handler for target type {spec.type!r} (registered: {known})"
        else:
            try:
                payload = target_input(target, document, rule.name)
            except Exception as exc:  # a template that cannot be filled for this event
                reason = f"input: {type(exc).__name__}: {exc}"
            else:
                call = TargetCall(rule.name, spec, document, payload, key)
                final = self._retrier(spec.max_attempts).run(lambda: handler(call), _retryable)
                attempts = final.number
                if final.error is None:
                    # a topic publish is keyed by the delivery: the bus itself stores it once
                    if spec.type not in SELF_DEDUPLICATING:
                        self.ledger.record(
                            key, "delivered", rule=rule.name, target=spec.id, event_id=event.id
                        )
                    report.delivered += 1
                    return
                reason = f"{type(final.error).__name__}: {final.error}"
        self._dead_letter(event, document, rule.name, spec.id, key, reason, attempts)
        report.dead += 1

    def _dead_letter(
        self,
        event: Event,
        document: dict[str, Any],
        rule: str,
        target: str,
        key: str,
        reason: str,
        attempts: int,
    ) -> None:
        log.warning(
            "event_target_dead", rule=rule, target=target, event_id=event.id, reason=reason[:300]
        )
        payload = {
            "event": document,
            "rule": rule,
            "target": target,
            "reason": reason,
            "attempts": attempts,
        }
        headers = {
            HEADER_TOPIC: self.topic,
            HEADER_ID: event.id,
            HEADER_ATTEMPTS: str(attempts),
            HEADER_ERROR: reason[:1000],
            "rule": rule,
            "target": target,
        }
        self.bus.publish(
            dlq_topic(self.topic), payload, key=_bounded("dead/" + key), headers=headers
        )
        self.ledger.record(key, "dead", rule=rule, target=target, event_id=event.id)

    def dead_letter_malformed(self, message_id: str, payload: Any, reason: str) -> None:
        """Send a message that is not a valid event to the dead-letter topic, with why."""
        headers = {
            HEADER_TOPIC: self.topic,
            HEADER_ID: message_id,
            HEADER_ERROR: reason[:1000],
            HEADER_ATTEMPTS: "1",
        }
        body = {"payload": payload, "reason": reason, "rule": None, "target": None}
        self.bus.publish(
            dlq_topic(self.topic), body, key=f"malformed/{message_id}", headers=headers
        )


def replay_event(event: Event, name: str) -> Event:
    """``event`` as a replay called ``name`` re-sends it (EventBridge's ``replay-name``)."""
    return event.model_copy(update={"replay_name": name})
