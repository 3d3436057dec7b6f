"""The LLM planner: an OpenAI-compatible model proposes the remediation, the playbook stays the
fall-back, and the safety layer judges whatever is proposed.

The model is shown the incident, the orchestrator's triage, the specialist's findings and the
remediation tools as function specs (their pydantic input schemas). Its tool calls are checked
here against the same registry: a tool that does not exist, arguments that do not validate, an
answer that is neither tool calls nor a JSON list of ``{"tool", "args"}``, a call past the
timeout or past the budget (calls and tokens per process) raise :class:`PlannerError`, and the
orchestrator falls back to the playbook. Nothing the model says reaches the control plane
except through :class:`~ssmas.adops.safety.executor.SafeExecutor`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ssmas.adops.agents.playbooks import Hypothesis, Triage
from ssmas.adops.tools.base import ToolError, get_tool, registry
from ssmas.core.llm import ChatMessage, ToolSpec
from ssmas.core.llm.messages import Completion, LLMError
from ssmas.core.llm.protocol import LLM

SYSTEM = (
    "You are the remediation planner of an ad exchange's operations team. Given an incident, "
    "its triage and the specialist's findings, call the one or two remediation tools most "
    "likely to fix it, most likely first. Call only the tools offered, with arguments that "
    "match their schemas. Do not explain."
)


class PlannerError(RuntimeError):
    """The model's plan cannot be used (the orchestrator falls back to the playbook)."""


class LLMPlanner:
    name = "llm"

    def __init__(
        self,
        llm: LLM,
        *,
        timeout_s: float = 10.0,
        max_calls: int = 100,
        max_tokens: int = 200_000,
        max_actions: int = 2,
    ) -> None:
        self.llm = llm
        self.timeout_s = timeout_s
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_actions = max_actions
        self.calls = 0
        self.tokens = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-planner")

    def tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name=t.name,
                description=f"[{t.risk} risk] {t.description}",
                parameters=t.Input.model_json_schema(),
            )
            for t in registry().values()
            if t.kind == "remediation"
        ]

    def plan(
        self,
        incident: Mapping[str, Any],
        t: Triage,
        findings: list[dict[str, Any]],
        playbook: list[Hypothesis] | None = None,
    ) -> list[Hypothesis]:
        with self._lock:
            if self.calls >= self.max_calls or self.tokens >= self.max_tokens:
                raise PlannerError(f"LLM budget spent ({self.calls} calls, {self.tokens} tokens)")
            self.calls += 1
        body = {
            "incident": {k: str(v) for k, v in incident.items()},
            "triage": t.as_dict(),
            "findings": [{"tool": f["tool"], "summary": f["summary"]} for f in findings],
        }
        messages = [
            ChatMessage(role="system", content=SYSTEM),
            ChatMessage(role="user", content=json.dumps(body)),
        ]
        future = self._pool.submit(self.llm.complete, messages, tools=self.tools())
        try:
            completion: Completion = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise PlannerError(f"no plan within {self.timeout_s:g}s") from None
        except LLMError as exc:
            raise PlannerError(f"LLM failed: {exc}") from None
        with self._lock:
            self.tokens += completion.usage.total_tokens
        calls = [(c.name, c.arguments) for c in completion.tool_calls]
        if not calls:
            calls = _calls_from_text(completion.text)
        if not calls:
            raise PlannerError("the model proposed no action")
        verify = playbook[0].verify if playbook else None
        out = []
        for name, args in calls[: self.max_actions]:
            try:
                tool = get_tool(name)
                parsed = tool.parse(args)
            except ToolError as exc:
                raise PlannerError(f"the model's plan is invalid: {exc}") from None
            if tool.kind != "remediation":
                raise PlannerError(f"the model's plan names {name}, which is not a remediation")
            out.append(
                Hypothesis(
                    f"LLM plan: {name}",
                    name,
                    parsed.model_dump(mode="json"),
                    verify,
                    0.7,
                )
            )
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _calls_from_text(text: str) -> list[tuple[str, dict[str, Any]]]:
    """A plan written as JSON text: ``[{"tool": ..., "args": {...}}]`` (or one such object)."""
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise PlannerError("the model's answer is not valid JSON") from None
    items = data if isinstance(data, list) else [data]
    calls = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("tool"), str):
            raise PlannerError("the model's JSON plan has no tool name")
        args = item.get("args", {})
        if not isinstance(args, dict):
            raise PlannerError("the model's JSON plan has arguments that are not an object")
        calls.append((item["tool"], args))
    return calls
