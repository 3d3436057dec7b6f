"""A deterministic, network-free LLM stand-in that keeps agent and assistant pipelines whole.

It does not understand language: it matches words. Given tools, it calls the one whose name and
description share the most words with the last user message, filling arguments it can find in the
text (``key: value`` pairs, enum values, numbers, e-mails, dates, URLs). Otherwise it replies with a
short template naming the detected topic. Products are expected to answer from their own offline
logic (rules, templates, data) when this provider is in use; it only guarantees that the same input
always yields the same, well-formed ``Completion``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

from ssmas.core.llm.messages import ChatMessage, Completion, ToolCall, ToolSpec, Usage

_STOPWORD_TEXT = """
    a an the of to for in on at by with and or not is are be was were been it its this that
    these those my me i you your we our us they them please can could would should will shall
    what which who whom how when where why do does did done from as about into than then there
    here get give tell just some any all also so if but out up down via per id"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NUMBER = re.compile(r"(?<![\w.\-+])-?\d+(?:\.\d+)?(?![\w-]|\.\d)")
_PATTERNS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    "url": re.compile(r"https?://[^\s\"'<>]+"),
    "phone": re.compile(r"\+?\d[\d\s-]{6,}\d"),
}
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'")
_MIN_TOOL_SCORE = 2


def stem(word: str) -> str:
    """A crude stem so that 'pausing', 'paused' and 'pause' compare equal."""
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]


def keywords(text: str) -> list[str]:
    """Content words of ``text`` in order of appearance (lower case, stopwords removed)."""
    spaced = _CAMEL.sub(" ", text).replace("_", " ").replace("-", " ")
    return [w for w in _WORD.findall(spaced.lower()) if w not in STOPWORDS and len(w) > 1]


def _stems(text: str) -> set[str]:
    return {stem(w) for w in keywords(text)}


def score_tool(tool: ToolSpec, query_stems: set[str]) -> int:
    """Name words count double, description words once."""
    name_stems = _stems(tool.name)
    desc_stems = _stems(tool.description) - name_stems
    return 2 * len(query_stems & name_stems) + len(query_stems & desc_stems)


def _coerce(value: str, kind: str | None) -> Any:
    value = value.strip().rstrip(".,;")
    if kind == "integer":
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        lowered = value.lower()
        if lowered in {"true", "yes", "on", "1"}:
            return True
        if lowered in {"false", "no", "off", "0"}:
            return False
        raise ValueError(value)
    return value


def _keyed_value(text: str, prop: str, kind: str | None) -> Any:
    """Value written right after the property's name: ``campaign_id=42``, ``country: DE``."""
    words = [w for w in keywords(prop) if w != "id"] or keywords(prop)
    phrases = [r"[\s_-]*".join(map(re.escape, keywords(prop)))]
    if words:
        phrases.append(re.escape(words[0]))
    for phrase in phrases:
        pattern = (
            rf"\b{phrase}\w*\s*(?:[:=]|\bis\b|\bof\b|\bto\b)?\s*"
            rf"(?:\"([^\"]+)\"|'([^']+)'|([^\s,;]+))"
        )
        for match in re.finditer(pattern, text, flags=re.IGNORECASE):
            raw = next(g for g in match.groups() if g is not None)
            if raw.lower() in STOPWORDS:
                continue
            try:
                return _coerce(raw, kind)
            except ValueError:
                continue
    return None


def extract_arguments(tool: ToolSpec, text: str) -> dict[str, Any]:
    """Best-effort arguments for ``tool`` from free text; absent when nothing fits."""
    properties: dict[str, Any] = tool.parameters.get("properties", {}) or {}
    args: dict[str, Any] = {}
    used: set[str] = set()
    for prop, schema in properties.items():
        kind = schema.get("type") if isinstance(schema, dict) else None
        enum = schema.get("enum") if isinstance(schema, dict) else None
        if enum:
            for option in enum:
                if re.search(rf"\b{re.escape(str(option))}\b", text, flags=re.IGNORECASE):
                    args[prop] = option
                    break
            continue
        special = next(
            (
                key
                for key in _PATTERNS
                if key in keywords(prop) or str(schema.get("format", "")).startswith(key)
            ),
            None,
        )
        if special:
            found = _PATTERNS[special].search(text)
            if found:
                args[prop] = found.group(0).strip()
            continue
        value = _keyed_value(text, prop, kind)
        if value is not None:
            args[prop] = value
            used.add(str(value))
    _fill_unkeyed(properties, text, args, used)
    return args


def _fill_unkeyed(
    properties: dict[str, Any], text: str, args: dict[str, Any], used: set[str]
) -> None:
    """Give free-standing numbers and quoted strings to the properties still missing them."""
    numbers = [n for n in _NUMBER.findall(text) if n not in used]
    quoted = [a or b for a, b in _QUOTED.findall(text)]
    for prop, schema in properties.items():
        if prop in args or not isinstance(schema, dict):
            continue
        kind = schema.get("type")
        if kind in {"integer", "number"} and numbers:
            try:
                args[prop] = _coerce(numbers[0], kind)
                numbers.pop(0)
            except ValueError:
                continue
        elif kind == "string" and quoted:
            args[prop] = quoted.pop(0)


def topic_of(text: str, limit: int = 3) -> list[str]:
    """The most frequent content words (counted by stem), ties broken by first appearance."""
    words = [w for w in keywords(text) if len(w) > 2 and not w.isdigit()]
    counts = Counter(stem(w) for w in words)
    first: dict[str, tuple[int, str]] = {}
    for index, word in enumerate(words):
        first.setdefault(stem(word), (index, word))
    ranked = sorted(counts, key=lambda s: (-counts[s], first[s][0]))
    return [first[s][1] for s in ranked[:limit]]


def _tokens(text: str) -> int:
    return len(text.split())


class OfflineLLM:
    """Deterministic word-matching provider; see the module docstring for what it can do."""

    provider = "offline"

    def __init__(self, model: str = "offline") -> None:
        self.model = model

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec] | None = None,
        model: str | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> Completion:
        last = messages[-1] if messages else ChatMessage(role="user", content="")
        user_text = next((m.content for m in reversed(messages) if m.role == "user"), "")
        calls: list[ToolCall] = []
        if last.role == "tool":
            text = f"Tool {last.name or 'result'} returned: {last.content[:400]}"
        else:
            call = self._pick_tool(user_text, tools or [])
            calls = [call] if call else []
            text = "" if calls else self._reply(user_text)
        words = text.split()
        if len(words) > max_tokens:
            text = " ".join(words[:max_tokens])
        prompt = sum(_tokens(m.content) for m in messages)
        completion = _tokens(text) + sum(_tokens(json.dumps(c.arguments)) for c in calls)
        return Completion(
            text=text,
            tool_calls=calls,
            model=model or self.model,
            usage=Usage(
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
            ),
            provider=self.provider,
            finish_reason="tool_calls" if calls else "stop",
        )

    @staticmethod
    def _pick_tool(text: str, tools: list[ToolSpec]) -> ToolCall | None:
        query = _stems(text)
        best: tuple[int, ToolSpec] | None = None
        for tool in tools:
            score = score_tool(tool, query)
            if score >= _MIN_TOOL_SCORE and (best is None or score > best[0]):
                best = (score, tool)
        if best is None:
            return None
        tool = best[1]
        args = extract_arguments(tool, text)
        digest = hashlib.sha256(
            json.dumps([tool.name, args, text], sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        return ToolCall(id=f"call_{digest}", name=tool.name, arguments=args)

    @staticmethod
    def _reply(text: str) -> str:
        topic = topic_of(text)
        if not topic:
            return "Offline assistant: the message had no recognisable topic."
        return (
            f"Offline assistant: your message is about {', '.join(topic)}. No language model is "
            "configured, so this is a templated acknowledgement."
        )
