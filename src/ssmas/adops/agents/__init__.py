"""AdOps agents: the orchestrator and five specialists (performance, configuration, demand
partner, infrastructure, security) that diagnose incidents and fix them through the tool
library, under the safety layer (``ssmas.adops.safety``).

The exports are lazy (``ssmas.core.lazy``): the safety layer imports the agents' tables, and an
eager ``__init__`` would import the orchestrator, which imports the safety layer back (importing
``ssmas.adops.safety`` first failed on that circle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssmas.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ssmas.adops.agents.orchestrator import AgentRunner, cases
    from ssmas.adops.agents.playbooks import (
        CATEGORIES,
        KIND_CATEGORY,
        SPECIALISTS,
        Hypothesis,
        triage,
    )

__all__ = [
    "CATEGORIES",
    "KIND_CATEGORY",
    "SPECIALISTS",
    "AgentRunner",
    "Hypothesis",
    "cases",
    "triage",
]
_PLAYBOOKS = "ssmas.adops.agents.playbooks"
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AgentRunner": "ssmas.adops.agents.orchestrator",
        "cases": "ssmas.adops.agents.orchestrator",
        "CATEGORIES": _PLAYBOOKS,
        "KIND_CATEGORY": _PLAYBOOKS,
        "SPECIALISTS": _PLAYBOOKS,
        "Hypothesis": _PLAYBOOKS,
        "triage": _PLAYBOOKS,
    },
)
