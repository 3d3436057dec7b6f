"""The assistant's trainable domain: YAML files a team edits, read and checked here.

A domain directory holds ``domain.yml`` (languages, intents, entities, slots, responses per
language, forms, rules and stories) and example files (any other ``*.yml`` / ``*.yaml`` under
it, one language each: ``{language: es, intents: {intent: [example, ...]}}``). Entities are
marked in examples as ``[text](entity)``. ``load_domain`` reads everything and raises
``DomainError`` with every problem found, each as ``file:line: reason`` naming the item (the
rule, the story and its step ...); nothing half-valid is returned.

The shipped default (``shipped_domain_dir``) is the publisher network's support domain; the
public corpora are converted to the same example format by ``nlu.convert``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("es", "en")
OUT_OF_SCOPE = "out_of_scope"
ACTIONS = ("answer", "handoff")
MIN_EXAMPLES = 5
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ANNOTATION = re.compile(r"\[([^\[\]]+)\]\(([^()\s]+)\)")
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
DOMAIN_KEYS = {
    "version",
    "languages",
    "intents",
    "entities",
    "slots",
    "responses",
    "forms",
    "rules",
    "stories",
}
INTENT_KEYS = {"context"}
RULE_KEYS = {"rule", "intent", "action", "after", "during"}
STORY_KEYS = {"story", "steps"}
STEP_KEYS = {"intent", "action", "examples"}
ANY_FORM = "any"


class LineStr(str):
    """A YAML string that remembers the line it came from."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader with the line-remembering string constructor registered on it alone (adding
    a constructor to SafeLoader itself would change every other YAML read in the process)."""


def _construct_str(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> LineStr:
    value = LineStr(loader.construct_scalar(node))
    value.line = node.start_mark.line + 1
    return value


_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class DomainError(ValueError):
    """Training data that cannot be used; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str
    text: str


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    language: str
    spans: tuple[Span, ...] = ()
    where: str = ""


@dataclass(frozen=True)
class EntityDef:
    name: str
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    regex: str | None = None


@dataclass(frozen=True)
class SlotDef:
    name: str
    entity: str
    intents: tuple[str, ...] = ()  # empty: any intent may fill it


@dataclass(frozen=True)
class Form:
    name: str
    intent: str
    required: tuple[str, ...]
    ask: dict[str, dict[str, str]]
    done: str


@dataclass(frozen=True)
class Rule:
    """``intent`` → ``action``; only right ``after`` an action, or only ``during`` a form (a
    form's name or ``any``: the form is interrupted, and resumed after the action)."""

    name: str
    intent: str
    action: str
    after: str | None = None
    during: str | None = None


@dataclass(frozen=True)
class StoryStep:
    """One step of a story: what the customer says (``intent``, with ``examples`` of how a
    follow-up is said in that context, per language) or what the assistant does (``action``)."""

    intent: str | None = None
    action: str | None = None
    examples: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Story:
    """A conversation path: read a message in the light of the previous exchange."""

    name: str
    steps: tuple[StoryStep, ...]


@dataclass
class Domain:
    languages: tuple[str, ...]
    intents: tuple[str, ...]
    entities: dict[str, EntityDef]
    slots: dict[str, SlotDef]
    responses: dict[str, dict[str, str]]
    forms: dict[str, Form]
    rules: list[Rule]
    examples: list[Example]
    source: str = ""
    stories: list[Story] = field(default_factory=list)
    # read only where a rule (``after``) or a story expects them, never by the classifier
    context_intents: tuple[str, ...] = ()

    def examples_in(self, language: str) -> list[Example]:
        return [e for e in self.examples if e.language == language]

    def classified_examples(self, language: str) -> list[Example]:
        """The examples the intent classifier learns from: all but the context intents'."""
        return [e for e in self.examples_in(language) if e.intent not in self.context_intents]

    def form_for(self, intent: str) -> Form | None:
        return next((f for f in self.forms.values() if f.intent == intent), None)

    def action_for(self, intent: str, after: str | None) -> str:
        """The rule's action for ``intent`` (a rule with a matching ``after`` first), else
        ``answer``."""
        for rule in self.rules:
            if after is not None and rule.intent == intent and rule.after == after:
                return rule.action
        for rule in self.rules:
            if rule.intent == intent and rule.after is None and rule.during is None:
                return rule.action
        return "answer"

    def interruption(self, intent: str, form: str) -> Rule | None:
        """The rule that lets ``intent`` interrupt the active ``form`` (it is resumed after)."""
        return next(
            (
                r
                for r in self.rules
                if r.intent == intent and r.during is not None and r.during in (form, ANY_FORM)
            ),
            None,
        )

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for e in self.examples:
            out.setdefault(e.intent, {}).setdefault(e.language, 0)
            out[e.intent][e.language] += 1
        return out


def shipped_domain_dir() -> Path:
    return Path(str(resources.files("ssmas.assistant.data").joinpath("domain")))


def parse_example(raw: str) -> tuple[str, tuple[Span, ...]]:
    """Plain text and entity spans of an annotated example (``[March](month)``)."""
    raw = raw.strip()
    spans: list[Span] = []
    out: list[str] = []
    pos = 0
    length = 0
    for match in ANNOTATION.finditer(raw):
        before = raw[pos : match.start()]
        out.append(before)
        length += len(before)
        value = match.group(1)
        spans.append(Span(length, length + len(value), match.group(2), value))
        out.append(value)
        length += len(value)
        pos = match.end()
    out.append(raw[pos:])
    return "".join(out), tuple(spans)


class _Reader:
    """Collects problems while turning YAML into the dataclasses above."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []

    def name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def fail(self, path: Path, line: int, reason: str) -> None:
        self.problems.append(Problem(self.name(path), line, reason))

    def load(self, path: Path) -> Any:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(path, 1, f"cannot read: {exc}")
            return None
        try:
            return yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            problem = getattr(exc, "problem", None) or str(exc)
            hint = " (quote an example that starts with '[')" if "[" in text else ""
            self.fail(path, line, f"not valid YAML: {problem}{hint}")
            return None


def _line(value: Any, default: int) -> int:
    return value.line if isinstance(value, LineStr) else default


def _mapping(r: _Reader, path: Path, value: Any, what: str, line: int) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        r.fail(path, line, f"{what} must be a mapping")
        return {}
    return value


def _languages_block(
    r: _Reader, path: Path, value: Any, langs: Iterable[str], what: str, line: int
) -> dict[str, str]:
    block = _mapping(r, path, value, what, line)
    out: dict[str, str] = {}
    for lang in langs:
        text = block.get(lang)
        if not isinstance(text, str) or not text.strip():
            r.fail(path, line, f"{what} has no text for language {lang!r}")
        else:
            out[lang] = str(text)
    for lang in block:
        if lang not in langs:
            r.fail(path, _line(lang, line), f"{what}: language {lang!r} is not in 'languages'")
    return out


def _read_domain_file(r: _Reader, path: Path) -> Domain | None:
    data = r.load(path)
    if data is None:
        if not r.problems:
            r.fail(path, 1, "empty file")
        return None
    if not isinstance(data, dict):
        r.fail(path, 1, "domain.yml must be a mapping of sections")
        return None
    for key in data:
        if key not in DOMAIN_KEYS:
            r.fail(path, _line(key, 1), f"unknown section {key!r} (known: {sorted(DOMAIN_KEYS)})")
    raw_langs = data.get("languages") or []
    langs: list[str] = []
    for lang in raw_langs if isinstance(raw_langs, list) else []:
        if lang not in LANGUAGES:
            r.fail(path, _line(lang, 1), f"language {lang!r} not supported (use {LANGUAGES})")
        else:
            langs.append(str(lang))
    if not langs:
        r.fail(path, 1, f"'languages' must list one or more of {LANGUAGES}")
    intents: list[str] = []
    context: list[str] = []
    for key, spec in _mapping(r, path, data.get("intents"), "intents", 1).items():
        if not NAME.match(str(key)):
            r.fail(path, _line(key, 1), f"intent name {key!r} must be lower_snake_case")
        intents.append(str(key))
        spec = _mapping(r, path, spec, f"intent {key!r}", _line(key, 1))
        for option in spec:
            if option not in INTENT_KEYS:
                r.fail(
                    path,
                    _line(option, _line(key, 1)),
                    f"intent {key!r}: unknown option {option!r} (known: {sorted(INTENT_KEYS)})",
                )
        if spec.get("context") is True:
            context.append(str(key))
        elif spec.get("context") not in (None, False):
            r.fail(path, _line(key, 1), f"intent {key!r}: 'context' must be true or false")
    if not intents:
        r.fail(path, 1, "'intents' lists no intent")

    entities: dict[str, EntityDef] = {}
    for key, spec in _mapping(r, path, data.get("entities"), "entities", 1).items():
        line = _line(key, 1)
        spec = _mapping(r, path, spec, f"entity {key!r}", line)
        values: dict[str, tuple[str, ...]] = {}
        for canonical, synonyms in _mapping(r, path, spec.get("values"), "values", line).items():
            if not isinstance(synonyms, list) or not all(isinstance(s, str) for s in synonyms):
                r.fail(
                    path,
                    _line(canonical, line),
                    f"entity {key!r} value {canonical!r} must list its synonyms as strings",
                )
                continue
            values[str(canonical)] = tuple(str(s) for s in synonyms)
        regex = spec.get("regex")
        if regex is not None:
            try:
                re.compile(str(regex))
            except re.error as exc:
                r.fail(path, _line(regex, line), f"entity {key!r}: bad regex: {exc}")
                regex = None
        if not values and regex is None:
            r.fail(path, line, f"entity {key!r} needs 'values' or 'regex'")
        entities[str(key)] = EntityDef(str(key), values, None if regex is None else str(regex))

    slots: dict[str, SlotDef] = {}
    for key, spec in _mapping(r, path, data.get("slots"), "slots", 1).items():
        line = _line(key, 1)
        spec = _mapping(r, path, spec, f"slot {key!r}", line)
        entity = str(spec.get("entity", key))
        if entity not in entities:
            r.fail(path, line, f"slot {key!r}: unknown entity {entity!r}")
        only = spec.get("intents") or []
        for intent in only:
            if intent not in intents:
                r.fail(path, _line(intent, line), f"slot {key!r}: unknown intent {intent!r}")
        slots[str(key)] = SlotDef(str(key), entity, tuple(str(i) for i in only))

    responses: dict[str, dict[str, str]] = {}
    for key, spec in _mapping(r, path, data.get("responses"), "responses", 1).items():
        line = _line(key, 1)
        if not str(key).startswith("utter_"):
            r.fail(path, line, f"response {key!r} must be named utter_<something>")
        texts = _languages_block(r, path, spec, langs, f"response {key!r}", line)
        for text in texts.values():
            for slot in PLACEHOLDER.findall(text):
                if slot not in slots:
                    r.fail(path, line, f"response {key!r} uses {{{slot}}}, which is not a slot")
        responses[str(key)] = texts

    forms: dict[str, Form] = {}
    for key, spec in _mapping(r, path, data.get("forms"), "forms", 1).items():
        line = _line(key, 1)
        spec = _mapping(r, path, spec, f"form {key!r}", line)
        intent = str(spec.get("intent", ""))
        if intent not in intents:
            r.fail(path, line, f"form {key!r}: unknown intent {intent!r}")
        required = [str(s) for s in spec.get("required") or []]
        if not required:
            r.fail(path, line, f"form {key!r} requires no slot")
        asks = _mapping(r, path, spec.get("ask"), f"form {key!r} ask", line)
        ask: dict[str, dict[str, str]] = {}
        for slot in required:
            if slot not in slots:
                r.fail(path, line, f"form {key!r}: unknown slot {slot!r}")
            ask[slot] = _languages_block(
                r, path, asks.get(slot), langs, f"form {key!r} question for {slot!r}", line
            )
        done = str(spec.get("done", ""))
        if done not in responses:
            r.fail(path, line, f"form {key!r}: 'done' response {done!r} is not defined")
        forms[str(key)] = Form(str(key), intent, tuple(required), ask, done)

    known_actions = set(responses) | set(forms) | set(ACTIONS)
    rules = _read_rules(r, path, data.get("rules"), intents, known_actions, set(forms))
    stories = _read_stories(r, path, data.get("stories"), intents, known_actions, langs)
    for intent in intents:
        ruled = any(rule.intent == intent for rule in rules)
        if not ruled and f"utter_{intent}" not in responses:
            r.fail(path, 1, f"intent {intent!r} has neither a rule nor a response utter_{intent}")
    for intent in context:
        expected = any(rule.intent == intent and rule.after for rule in rules) or any(
            step.intent == intent for story in stories for step in story.steps[1:]
        )
        if not expected:
            r.fail(
                path,
                1,
                f"context intent {intent!r} is never expected: give it a rule with 'after' "
                "or a story step after the first",
            )
    return Domain(
        tuple(langs),
        tuple(intents),
        entities,
        slots,
        responses,
        forms,
        rules,
        [],
        "",
        stories,
        tuple(context),
    )


def _action_problem(action: Any, known: set[str]) -> str | None:
    if action in known:
        return None
    return f"unknown action {action!r} (a response, a form, answer or handoff)"


def _read_rules(
    r: _Reader,
    path: Path,
    raw: Any,
    intents: list[str],
    known_actions: set[str],
    forms: set[str],
) -> list[Rule]:
    rules: list[Rule] = []
    if raw is None:
        return rules
    if not isinstance(raw, list):
        r.fail(path, 1, "'rules' must be a list")
        return rules
    for item in raw:
        if not isinstance(item, dict):
            r.fail(path, 1, "each rule must be a mapping with rule, intent, action")
            continue
        name = item.get("rule", "")
        line = _line(name, _line(item.get("intent"), 1))
        for key in item:
            if key not in RULE_KEYS:
                r.fail(path, _line(key, line), f"rule {name!r}: unknown key {key!r}")
        raw_intent, action = item.get("intent"), item.get("action")
        after, during = item.get("after"), item.get("during")
        listed = raw_intent if isinstance(raw_intent, list) else [raw_intent]
        for intent in listed:
            if intent not in intents:
                r.fail(path, _line(intent, line), f"rule {name!r}: unknown intent {intent!r}")
        problem = _action_problem(action, known_actions)
        if problem is not None:
            r.fail(path, line, f"rule {name!r}: {problem}")
        if after is not None and after not in known_actions:
            r.fail(path, line, f"rule {name!r}: unknown 'after' action {after!r}")
        if during is not None:
            if during not in forms and during != ANY_FORM:
                r.fail(
                    path,
                    _line(during, line),
                    f"rule {name!r}: 'during' must be a form or {ANY_FORM!r}, not {during!r}",
                )
            if after is not None:
                r.fail(path, line, f"rule {name!r}: give 'after' or 'during', not both")
            if action in forms:
                r.fail(path, line, f"rule {name!r}: a form cannot interrupt a form")
        for intent in listed:
            rules.append(
                Rule(
                    str(name),
                    str(intent),
                    str(action),
                    None if after is None else str(after),
                    None if during is None else str(during),
                )
            )
    return rules


def _read_stories(
    r: _Reader,
    path: Path,
    raw: Any,
    intents: list[str],
    known_actions: set[str],
    langs: list[str],
) -> list[Story]:
    """Stories: each a name and ``steps``, every step an ``intent`` (with optional follow-up
    ``examples`` per language) or an ``action``; it must start with an intent and have an
    intent after its first step (the message it reads in context)."""
    stories: list[Story] = []
    if raw is None:
        return stories
    if not isinstance(raw, list):
        r.fail(path, 1, "'stories' must be a list")
        return stories
    for item in raw:
        if not isinstance(item, dict):
            r.fail(path, 1, "each story must be a mapping with story and steps")
            continue
        name = item.get("story", "")
        line = _line(name, 1)
        what = f"story {name!r}"
        if not isinstance(name, str) or not name.strip():
            r.fail(path, line, "a story needs a name ('story: ...')")
        for key in item:
            if key not in STORY_KEYS:
                r.fail(path, _line(key, line), f"{what}: unknown key {key!r}")
        raw_steps = item.get("steps")
        if not isinstance(raw_steps, list) or len(raw_steps) < 2:
            r.fail(path, line, f"{what}: 'steps' must list at least two steps")
            continue
        steps: list[StoryStep] = []
        for n, raw_step in enumerate(raw_steps, 1):
            step = _read_step(
                r, path, raw_step, f"{what} step {n}", line, intents, known_actions, langs
            )
            if step is not None:
                steps.append(step)
        if len(steps) != len(raw_steps):
            continue
        if steps[0].intent is None:
            r.fail(path, line, f"{what}: the first step must be an intent")
        if not any(step.intent is not None for step in steps[1:]):
            r.fail(
                path, line, f"{what}: no intent after the first step (nothing to read in context)"
            )
        if steps[0].examples:
            r.fail(
                path, line, f"{what} step 1: examples belong to a follow-up, not the first intent"
            )
        stories.append(Story(str(name), tuple(steps)))
    return stories


def _read_step(
    r: _Reader,
    path: Path,
    raw: Any,
    what: str,
    line: int,
    intents: list[str],
    known_actions: set[str],
    langs: list[str],
) -> StoryStep | None:
    if not isinstance(raw, dict):
        r.fail(path, line, f"{what}: a step is a mapping with 'intent' or 'action'")
        return None
    line = next((_line(v, line) for v in raw.values() if isinstance(v, LineStr)), line)
    for key in raw:
        if key not in STEP_KEYS:
            r.fail(path, _line(key, line), f"{what}: unknown key {key!r}")
    intent, action, examples = raw.get("intent"), raw.get("action"), raw.get("examples")
    if (intent is None) == (action is None):
        r.fail(path, line, f"{what}: give either 'intent' or 'action'")
        return None
    if intent is not None and intent not in intents:
        r.fail(path, line, f"{what}: unknown intent {intent!r}")
        return None
    if action is not None:
        problem = _action_problem(action, known_actions)
        if problem is not None:
            r.fail(path, line, f"{what}: {problem}")
            return None
        if examples is not None:
            r.fail(path, line, f"{what}: examples go with an intent, not an action")
            return None
        return StoryStep(action=str(action))
    said: dict[str, tuple[str, ...]] = {}
    if examples is not None:
        block = _mapping(r, path, examples, f"{what} examples", line)
        for lang in langs:
            texts = block.get(lang)
            if (
                not isinstance(texts, list)
                or not texts
                or not all(isinstance(t, str) and t.strip() for t in texts)
            ):
                r.fail(path, line, f"{what}: examples need a list of texts for language {lang!r}")
                continue
            said[lang] = tuple(str(t) for t in texts)
        for lang in block:
            if lang not in langs:
                r.fail(path, _line(lang, line), f"{what}: language {lang!r} is not in 'languages'")
    return StoryStep(intent=str(intent), examples=said)


def read_examples(path: Path, domain: Domain, r: _Reader | None = None) -> list[Example]:
    """The examples of one file, checked against ``domain`` (raises ``DomainError``)."""
    own = r is None
    reader = r or _Reader(path.parent)
    before = len(reader.problems)
    data = reader.load(path)
    examples: list[Example] = []
    if data is None:
        if len(reader.problems) == before:
            reader.fail(path, 1, "empty file")
    elif not isinstance(data, dict) or "intents" not in data:
        reader.fail(path, 1, "an example file needs 'language' and 'intents'")
    else:
        lang = data.get("language")
        if lang not in domain.languages:
            reader.fail(
                path,
                _line(lang, 1),
                f"language {lang!r} is not one of the domain's {list(domain.languages)}",
            )
        for intent, items in _mapping(reader, path, data["intents"], "intents", 1).items():
            line = _line(intent, 1)
            if intent not in domain.intents:
                reader.fail(path, line, f"intent {intent!r} is not declared in domain.yml")
                continue
            if not isinstance(items, list):
                reader.fail(path, line, f"intent {intent!r}: examples must be a list")
                continue
            for raw in items:
                if not isinstance(raw, str):
                    reader.fail(path, line, f"intent {intent!r}: example {raw!r} is not text")
                    continue
                where = f"{reader.name(path)}:{_line(raw, line)}"
                text, spans = parse_example(str(raw))
                if not text.strip():
                    reader.fail(path, _line(raw, line), f"intent {intent!r}: empty example")
                    continue
                if "](" in text or re.search(r"\[[^\]]*\]\(", text):
                    reader.fail(
                        path, _line(raw, line), "malformed entity annotation (write [text](entity))"
                    )
                for span in spans:
                    if span.entity not in domain.entities:
                        reader.fail(
                            path,
                            _line(raw, line),
                            f"unknown entity {span.entity!r} in {str(raw)!r}",
                        )
                examples.append(Example(text, str(intent), str(lang), spans, where))
    if own and reader.problems:
        raise DomainError(reader.problems)
    return examples


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def load_domain(root: Path | None = None) -> Domain:
    """Read and check a domain directory (default: the shipped one)."""
    root = Path(root) if root is not None else shipped_domain_dir()
    r = _Reader(root)
    domain_file = root / "domain.yml"
    if not root.is_dir():
        raise DomainError([Problem(str(root), 0, "not a directory")])
    if not domain_file.is_file():
        raise DomainError([Problem(r.name(domain_file), 0, "missing: every domain needs one")])
    domain = _read_domain_file(r, domain_file)
    if domain is None:
        raise DomainError(r.problems)
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p != domain_file)
    if not files:
        r.fail(root, 0, "no example files (*.yml) beside domain.yml")
    for path in files:
        domain.examples.extend(read_examples(path, domain, r))
    seen: dict[tuple[str, str], Example] = {}
    for example in domain.examples:
        key = (example.language, _normal(example.text))
        first = seen.get(key)
        if first is None:
            seen[key] = example
        elif first.intent != example.intent:
            file, _, line = example.where.rpartition(":")
            r.problems.append(
                Problem(
                    file,
                    int(line),
                    f"{example.text!r} is also an example of {first.intent!r} ({first.where})",
                )
            )
    unreadable = any("not valid YAML" in p.reason for p in r.problems)
    counts = domain.counts()
    for intent in () if unreadable else domain.intents:
        for lang in domain.languages:
            n = counts.get(intent, {}).get(lang, 0)
            if n < MIN_EXAMPLES:
                r.problems.append(
                    Problem(
                        r.name(domain_file),
                        1,
                        f"intent {intent!r} has {n} "
                        f"{lang} examples; at least {MIN_EXAMPLES} needed",
                    )
                )
    if r.problems:
        raise DomainError(r.problems)
    domain.source = str(root)
    return domain
