"""AdOps event rules (the seed's EventBridge): an event envelope, EventBridge patterns, rules in
YAML with targets and input transformation, dead letters, a Parquet archive and replay.

``publish_event`` puts an event on the events topic; the adops ``rules`` worker
(``run_rules_worker``) archives and dispatches it; ``target_registry(platform).register`` adds a
target type (the incident manager registers ``incident``). See docs/adops.md, "Event rules".
"""

from __future__ import annotations

from ssmas.adops.events.envelope import Event, EventError, parse_event
from ssmas.adops.events.pattern import PatternError, compile_pattern, matches
from ssmas.adops.events.rules import RuleFileError, RuleSet, load_rules, parse_rules
from ssmas.adops.events.service import event_rules, publish_event, replay, run_rules_worker
from ssmas.adops.events.targets import TargetCall, TargetFailed, TargetRegistry, target_registry

__all__ = [
    "Event",
    "EventError",
    "PatternError",
    "RuleFileError",
    "RuleSet",
    "TargetCall",
    "TargetFailed",
    "TargetRegistry",
    "compile_pattern",
    "event_rules",
    "load_rules",
    "matches",
    "parse_event",
    "parse_rules",
    "publish_event",
    "replay",
    "run_rules_worker",
    "target_registry",
]
