"""Rules in YAML: a name, a pattern, targets (each with an optional input transformation) and
whether the rule is on, as EventBridge rules are.

```yaml
rules:
  - name: multi-metric-anomaly
    pattern: {source: [adops.analytics], detail: {severity: [CRITICAL, HIGH]}}
    targets:
      - {id: incident, type: incident}
      - {id: page, type: notify, severity: critical, input_path: $.detail}
```

Target types: ``notify`` (the platform's notifiers, with dedup), ``webhook`` (HTTP POST with
retries), ``topic`` (re-publish on a bus topic) and any name a handler is registered under
(``incident``: see :mod:`ssmas.adops.events.targets`). ``load_rules`` raises
:class:`RuleFileError`, one line naming the file, the rule and the field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ssmas.adops.events.pattern import Matcher, PatternError, compile_pattern
from ssmas.adops.events.transform import (
    InputTransformer,
    TransformError,
    compile_key,
    compile_path,
)

__all__ = [
    "DEFAULT_RULES",
    "CompiledRule",
    "RuleFileError",
    "RuleSet",
    "RuleSpec",
    "TargetSpec",
    "load_rules",
    "parse_rules",
]

DEFAULT_RULES = "default_rules.yaml"
BUILTIN_TYPES = ("notify", "webhook", "topic")
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class RuleFileError(ValueError):
    """A rule file that cannot be used, in one line: file, rule and field."""


class TransformerSpec(BaseModel):
    """EventBridge's InputTransformer: ``paths`` (name → JSONPath) and a ``template``."""

    model_config = ConfigDict(extra="forbid")

    paths: dict[str, str] = Field(default_factory=dict)
    template: str = Field(min_length=1, max_length=8192)


class TargetSpec(BaseModel):
    """Where a matched event goes, and in what form."""

    model_config = ConfigDict(extra="forbid")

    id: Ident
    type: Ident
    input_path: str | None = None
    input_transformer: TransformerSpec | None = None
    max_attempts: int = Field(default=3, ge=1, le=10, description="tries before dead-letter")
    # notify
    severity: Literal["info", "warning", "critical"] = "warning"
    title: str | None = Field(default=None, max_length=500)
    urls: list[str] | None = None
    dedup_key: str | None = Field(default=None, max_length=200)
    dedup_window_s: float = Field(default=0.0, ge=0.0, le=30 * 86400.0)
    # webhook
    url: str | None = Field(default=None, max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5.0, gt=0.0, le=60.0)
    # topic
    topic: str | None = Field(default=None, max_length=200)
    # a registered handler's own settings
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_its_type(self) -> TargetSpec:
        if self.input_path is not None and self.input_transformer is not None:
            raise ValueError("give input_path or input_transformer, not both")
        if self.input_path is not None:
            compile_path(self.input_path)
        if self.input_transformer is not None:
            spec = self.input_transformer
            InputTransformer.build(spec.paths, spec.template)
        if self.dedup_key is not None:
            compile_key(self.dedup_key)
        web = self.url is not None and self.url.startswith(("http://", "https://"))
        if self.type == "webhook" and not web:
            raise ValueError("a webhook target needs url: http(s)://...")
        if self.type == "topic" and not self.topic:
            raise ValueError("a topic target needs topic: <bus topic>")
        return self


class RuleSpec(BaseModel):
    """One rule as written in the file."""

    model_config = ConfigDict(extra="forbid")

    name: Ident
    description: str = Field(default="", max_length=1000)
    enabled: bool = True
    pattern: dict[str, Any]
    targets: list[TargetSpec] = Field(min_length=1, max_length=5)

    @model_validator(mode="after")
    def _distinct_target_ids(self) -> RuleSpec:
        ids = [t.id for t in self.targets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"target ids repeat: {ids}")
        return self


@dataclass(frozen=True)
class CompiledTarget:
    """A target with its input transformation ready to apply."""

    spec: TargetSpec
    transformer: InputTransformer | None
    path: tuple[str | int, ...] | None


@dataclass(frozen=True)
class CompiledRule:
    """A rule whose pattern is compiled into a predicate."""

    spec: RuleSpec
    match: Matcher
    targets: tuple[CompiledTarget, ...]

    @property
    def name(self) -> str:
        return self.spec.name


def _exact_sources(pattern: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The sources a pattern can match when it lists them as plain strings, else ``None``."""
    values = pattern.get("source")
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        return tuple(values)
    return None


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order; ``source`` names where they came from.

    Enabled rules are indexed by the plain ``source`` values their pattern lists (as
    EventBridge does), so an event is matched only against rules that could take it."""

    rules: tuple[CompiledRule, ...]
    source: str
    _by_source: dict[str, tuple[CompiledRule, ...]] = field(init=False, repr=False)
    _any_source: tuple[CompiledRule, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_source: dict[str, list[CompiledRule]] = {}
        anywhere: list[CompiledRule] = []
        for rule in self.rules:
            if not rule.spec.enabled:
                continue
            sources = _exact_sources(rule.spec.pattern)
            if sources is None:
                anywhere.append(rule)
            for value in sources or ():
                by_source.setdefault(value, []).append(rule)
        order = {id(r): i for i, r in enumerate(self.rules)}
        object.__setattr__(
            self,
            "_by_source",
            {
                k: tuple(
                    sorted({id(r): r for r in v + anywhere}.values(), key=lambda r: order[id(r)])
                )
                for k, v in by_source.items()
            },
        )
        object.__setattr__(self, "_any_source", tuple(anywhere))

    def get(self, name: str) -> CompiledRule | None:
        return next((r for r in self.rules if r.name == name), None)

    def enabled(self) -> tuple[CompiledRule, ...]:
        return tuple(r for r in self.rules if r.spec.enabled)

    def matching(self, document: Mapping[str, Any]) -> list[CompiledRule]:
        """The enabled rules whose pattern matches ``document`` (an event's JSON), in order."""
        source = document.get("source")
        candidates = (
            self._by_source.get(source, self._any_source)
            if isinstance(source, str)
            else self._any_source
        )
        return [r for r in candidates if r.match(document)]


def _compile(spec: RuleSpec) -> CompiledRule:
    targets = []
    for t in spec.targets:
        transformer = (
            InputTransformer.build(t.input_transformer.paths, t.input_transformer.template)
            if t.input_transformer is not None
            else None
        )
        path = compile_path(t.input_path) if t.input_path is not None else None
        targets.append(CompiledTarget(t, transformer, path))
    return CompiledRule(spec, compile_pattern(spec.pattern), tuple(targets))


def _where(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "rule"


def parse_rules(document: Any, source: str = "rules") -> RuleSet:
    """Validate a loaded YAML/JSON document (``{rules: [...]}``) into a :class:`RuleSet`."""
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise RuleFileError(f"{source}: expected a mapping with a 'rules' list")
    compiled: list[CompiledRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["rules"]):
        name = raw.get("name") if isinstance(raw, Mapping) else None
        label = f"rule {name!r}" if isinstance(name, str) else f"rule #{index + 1}"
        try:
            spec = RuleSpec.model_validate(raw)
            rule = _compile(spec)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            raise RuleFileError(f"{source}: {label}: {_where(first['loc'])}: {message}") from None
        except PatternError as exc:
            raise RuleFileError(f"{source}: {label}: pattern.{exc}") from None
        except TransformError as exc:
            raise RuleFileError(f"{source}: {label}: targets: {exc}") from None
        if spec.name in seen:
            raise RuleFileError(f"{source}: {label}: name: used by an earlier rule")
        seen.add(spec.name)
        compiled.append(rule)
    return RuleSet(tuple(compiled), source)


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules of ``path``, or the default rules shipped with the package."""
    if path is None:
        text = resources.files("ssmas.adops.events").joinpath(DEFAULT_RULES).read_text()
        source = f"(default) {DEFAULT_RULES}"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleFileError(f"{path}: cannot read: {exc}") from None
        source = str(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RuleFileError(f"{source}: not YAML{where}: {problem}") from None
    return parse_rules(document, source)
