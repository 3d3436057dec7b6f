"""The AdOps tool library: typed diagnostic and remediation tools over the exchange.

``registry()`` lists them by name; ``get_tool(name)`` raises ``UnknownTool``; a tool's
``parse(args)`` raises ``InvalidArguments``. See ``base.py`` for what every tool carries.
"""

from __future__ import annotations

from ssmas.adops.tools.base import (
    RISK_RANK,
    InvalidArguments,
    MetricsView,
    Tool,
    ToolContext,
    ToolError,
    UnknownTool,
    get_tool,
    idempotency_key,
    registry,
    undo_of,
)

__all__ = [
    "RISK_RANK",
    "InvalidArguments",
    "MetricsView",
    "Tool",
    "ToolContext",
    "ToolError",
    "UnknownTool",
    "get_tool",
    "idempotency_key",
    "registry",
    "undo_of",
]
