"""AdOps agents: the orchestrator and five specialists (performance, configuration, demand
partner, infrastructure, security) that diagnose incidents and fix them through the tool
library, under the safety layer (``ssmas.adops.safety``)."""

from __future__ import annotations

from ssmas.adops.agents.orchestrator import AgentRunner, cases
from ssmas.adops.agents.playbooks import CATEGORIES, KIND_CATEGORY, SPECIALISTS, Hypothesis, triage

__all__ = [
    "CATEGORIES",
    "KIND_CATEGORY",
    "SPECIALISTS",
    "AgentRunner",
    "Hypothesis",
    "cases",
    "triage",
]
