"""What a target receives: the whole event, a part of it (input path), or a template filled from
it (input transformer), as EventBridge does.

Paths are a JSONPath subset: ``$``, ``$.detail.severity``, ``$.resources[0]``. A template names
values as ``<name>`` (from ``paths``) or the reserved ``<aws.events.event>`` (the whole event,
also ``<aws.events.event.json>``), ``<aws.events.rule-name>`` and
``<aws.events.event.ingestion-time>``. Inside a JSON string a placeholder is replaced by the
value's text; elsewhere by its JSON. A template that yields JSON gives that value, otherwise the
text itself. A path the event lacks gives ``null``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["InputTransformer", "TransformError", "compile_path", "resolve_path"]

_PATH = re.compile(r"^\$((?:\.[A-Za-z0-9_\-]+|\[\d+\])*)$")
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
RESERVED = (
    "aws.events.event",
    "aws.events.event.json",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
)
_MISSING = object()


class TransformError(ValueError):
    """An input path or template that cannot be used; the message says which and why."""


Path = tuple[str | int, ...]


def compile_path(text: str) -> Path:
    """The steps of a JSONPath like ``$.detail.items[0].id``."""
    if not isinstance(text, str) or not _PATH.match(text):
        raise TransformError(f"{text!r} is not a path like $.detail.field or $.resources[0]")
    return tuple(
        int(index) if index else name for name, index in _STEP.findall(text.removeprefix("$"))
    )


def resolve_path(document: Any, path: Path) -> Any:
    """The value at ``path`` in ``document``; ``None`` when any step is missing."""
    value = document
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, Mapping) or step not in value:
                return None
            value = value[step]
    return value


def _in_string(template: str, end: int) -> bool:
    """Whether position ``end`` of ``template`` lies inside a JSON string literal."""
    inside = False
    i = 0
    while i < end:
        ch = template[i]
        if ch == "\\" and inside:
            i += 2
            continue
        if ch == '"':
            inside = not inside
        i += 1
    return inside


@dataclass(frozen=True)
class InputTransformer:
    """EventBridge's InputTransformer: named paths and a template using them."""

    paths: Mapping[str, Path]
    template: str

    @classmethod
    def build(cls, paths: Mapping[str, str], template: str) -> InputTransformer:
        compiled: dict[str, Path] = {}
        for name, text in paths.items():
            if not re.fullmatch(r"[A-Za-z0-9_\-]+", name) or name.startswith("aws."):
                raise TransformError(f"path name {name!r}: letters, digits, _ and - only")
            try:
                compiled[name] = compile_path(text)
            except TransformError as exc:
                raise TransformError(f"paths.{name}: {exc}") from None
        for found in _PLACEHOLDER.finditer(template):
            name = found.group(1)
            if name not in compiled and name not in RESERVED:
                raise TransformError(f"template names <{name}>, which paths does not define")
        return cls(compiled, template)

    def apply(self, event: Mapping[str, Any], rule_name: str, ingested: str = "") -> Any:
        """The filled template: a JSON value when it parses as one, otherwise the text."""
        values = {name: resolve_path(event, path) for name, path in self.paths.items()}
        values["aws.events.event"] = event
        values["aws.events.event.json"] = event
        values["aws.events.rule-name"] = rule_name
        values["aws.events.event.ingestion-time"] = ingested or event.get("time")
        template = self.template
        out: list[str] = []
        last = 0
        for found in _PLACEHOLDER.finditer(template):
            name = found.group(1)
            if name not in values:
                continue  # a literal <word> that is no placeholder stays as written
            out.append(template[last : found.start()])
            value = values[name]
            text = orjson.dumps(value).decode()
            if _in_string(template, found.start()):
                inner = value if isinstance(value, str) else text
                text = orjson.dumps(inner).decode()[1:-1]
            out.append(text)
            last = found.end()
        out.append(template[last:])
        filled = "".join(out)
        try:
            return orjson.loads(filled)
        except orjson.JSONDecodeError:
            return filled


_KEY_PLACEHOLDER = re.compile(r"<(\$[^<>]*)>")


def compile_key(template: str) -> list[str | Path]:
    """A key template such as ``"<$.detail.entity_id>:<$.detail.problem_type>"``: literal text
    and JSONPaths, in order."""
    parts: list[str | Path] = []
    last = 0
    for found in _KEY_PLACEHOLDER.finditer(template):
        parts.append(template[last : found.start()])
        parts.append(compile_path(found.group(1)))
        last = found.end()
    parts.append(template[last:])
    return [p for p in parts if p != ""]


def fill_key(parts: list[str | Path], document: Mapping[str, Any]) -> str:
    """The key a compiled template gives for ``document`` (values as text, missing as '')."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = resolve_path(document, part)
        out.append("" if value is None else value if isinstance(value, str) else str(value))
    return "".join(out)
