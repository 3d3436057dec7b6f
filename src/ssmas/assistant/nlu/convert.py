"""Public intent corpora written as domain training data, so they train through the same path.

``corpus_to_domain(corpus, language, out_dir, name=...)`` writes ``domain.yml`` (the corpus's
intents, each with a placeholder response) and ``nlu/<language>.yml`` (its examples) in the
format a team edits, then ``load_domain(out_dir)`` reads them back with every check a team's
data gets. Labels become lower_snake_case intent names (``alarm/set_alarm`` →
``alarm_set_alarm``; CLINC150's ``oos`` is ``out_of_scope``). A text given two different
labels is dropped (the checks refuse it, and no model can get both right), and so is an intent
with fewer examples than the checks ask for (tod_es has two with three or four); square
brackets are written as parentheses so no text reads as an entity annotation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ssmas.assistant.nlu.corpora import OUT_OF_SCOPE, Corpus
from ssmas.assistant.nlu.domain import MIN_EXAMPLES, Domain, load_domain

_NOT_NAME = re.compile(r"[^a-z0-9_]+")


def intent_name(label: str) -> str:
    if label in ("oos", OUT_OF_SCOPE):
        return OUT_OF_SCOPE
    name = _NOT_NAME.sub("_", label.lower()).strip("_") or "intent"
    return name if name[0].isalpha() else f"i_{name}"


@dataclass(frozen=True)
class Converted:
    domain: Domain
    dropped_conflicts: int
    dropped_duplicates: int
    dropped_intents: tuple[str, ...] = ()


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def corpus_to_domain(corpus: Corpus, language: str, out_dir: Path, *, name: str) -> Converted:
    """Write ``corpus`` as a one-language domain under ``out_dir`` and load it back."""
    labels: dict[str, set[str]] = {}
    for text, label in zip(corpus.texts, corpus.labels, strict=True):
        labels.setdefault(_key(text), set()).add(intent_name(label))
    examples: dict[str, list[str]] = {}
    seen: set[str] = set()
    conflicts = duplicates = 0
    for text, label in zip(corpus.texts, corpus.labels, strict=True):
        key = _key(text)
        if not key:
            continue
        if len(labels[key]) > 1:
            conflicts += 1
            continue
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        clean = text.replace("[", "(").replace("]", ")").strip()
        examples.setdefault(intent_name(label), []).append(clean)
    small = tuple(sorted(i for i, texts in examples.items() if len(texts) < MIN_EXAMPLES))
    for intent in small:
        del examples[intent]
    domain = {
        "version": 1,
        "languages": [language],
        "intents": {intent: {} for intent in sorted(examples)},
        "responses": {
            f"utter_{intent}": {language: f"({name}: {intent})"} for intent in sorted(examples)
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "domain.yml").write_text(
        f"# {name}, converted by ssmas.assistant.nlu.convert\n"
        + yaml.safe_dump(domain, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    (out_dir / "nlu").mkdir(exist_ok=True)
    (out_dir / "nlu" / f"{language}.yml").write_text(
        yaml.safe_dump(
            {"language": language, "intents": examples}, allow_unicode=True, sort_keys=False
        ),
        encoding="utf-8",
    )
    return Converted(load_domain(out_dir), conflicts, duplicates, small)
