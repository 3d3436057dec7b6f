"""Entities and slots: regular expressions and lookup tables from the domain, plus a trained
token tagger for what the lists miss; the intent classifier decides which slots may be filled.

``EntityExtractor.fit(domain)`` learns per language a logistic-regression tagger (BIO tags over
word features) from the annotated examples. ``extract(text, language)`` returns every entity
found: regex and lookup matches first (longest first, accents and case folded; a synonym
written with a capital letter, such as ``May``, matches only with that capital), then tagger
spans that overlap none of them. ``slots(entities, intent, domain)`` keeps the entities whose
slot accepts that intent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from ssmas.assistant.nlu.domain import Domain, Example
from ssmas.core.memo import BoundedMemo

TAGGER_MIN_PROBA = 0.6
MEMO_SIZE = 4096  # (text, language) results kept by ``extract_many``
_WORD = re.compile(r"[\w@.\-]+", re.UNICODE)


@dataclass(frozen=True)
class Entity:
    entity: str
    start: int
    end: int
    text: str
    value: str
    source: str  # regex | lookup | tagger


def fold_char(c: str) -> str:
    """One character, lower-cased and without accents (offsets stay those of the original)."""
    lowered = c.lower()
    if len(lowered) != 1:
        return c
    base = unicodedata.normalize("NFD", lowered)[0]
    return base


def fold(text: str) -> str:
    return "".join(fold_char(c) for c in text)


def _tokens(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _WORD.finditer(text):
        word = m.group(0).rstrip(".-")
        if word:
            out.append((m.start(), m.start() + len(word), word))
    return out


def _features(tokens: list[tuple[int, int, str]], i: int) -> dict[str, Any]:
    word = tokens[i][2]
    low = fold(word)
    feats: dict[str, Any] = {
        "w": low,
        "suf3": low[-3:],
        "pre3": low[:3],
        "title": word[:1].isupper(),
        "upper": word.isupper() and len(word) > 1,
        "digit": any(c.isdigit() for c in word),
        "dot": "." in word,
        "len": min(len(word), 8),
    }
    for k in (-2, -1, 1, 2):
        j = i + k
        feats[f"w{k}"] = fold(tokens[j][2]) if 0 <= j < len(tokens) else "<pad>"
    return feats


def _bio(example: Example, tokens: list[tuple[int, int, str]]) -> list[str]:
    tags = ["O"] * len(tokens)
    for span in example.spans:
        inside = [i for i, (s, e, _) in enumerate(tokens) if s >= span.start and e <= span.end]
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + span.entity
    return tags


def _int32(x: Any) -> sp.csr_matrix:
    """liblinear takes 32-bit sparse indices only."""
    m = sp.csr_matrix(x, dtype=np.float64)
    m.indices = m.indices.astype(np.int32)
    m.indptr = m.indptr.astype(np.int32)
    return m


def _ovr_scores(model: OneVsRestClassifier, x: sp.csr_matrix) -> Any:
    """Each tag's ``expit(x @ coef + intercept)`` for the tagger's one-vs-rest binary logistic
    regressions, computed as scikit-learn computes them but with one sparse product for all
    tags instead of a validated call per tag (that validation took most of a small round's
    tagging); ``None`` for any other shape of model. ``_normalised`` turns a text's rows into
    ``predict_proba``'s."""
    estimators = getattr(model, "estimators_", [])
    simple = (
        len(estimators) > 1
        and getattr(model, "multilabel_", True) is False
        and all(
            isinstance(e, LogisticRegression) and e.coef_.shape == (1, x.shape[1])
            for e in estimators
        )
    )
    if not simple:
        return None
    weights = model.__dict__.get("_stacked_")
    if weights is None:
        coef = np.ascontiguousarray(np.hstack([e.coef_.T for e in estimators]))
        intercept = np.concatenate([e.intercept_ for e in estimators])
        weights = model.__dict__["_stacked_"] = (coef, intercept)
    coef, intercept = weights
    scores = np.asarray(x @ coef) + intercept
    expit(scores, out=scores)
    return scores


def _normalised(scores: Any) -> Any:
    """One text's rows of ``_ovr_scores`` normalised as ``OneVsRestClassifier.predict_proba``
    normalises them when called on that text alone (its layout: one row per tag underneath,
    so the sums add in the same order, bit for bit)."""
    proba = np.ascontiguousarray(scores.T).T
    sums = np.sum(proba, axis=1)[:, np.newaxis]
    np.divide(proba, sums, out=proba, where=sums != 0)
    return proba


class _Lookup:
    """Synonym → (entity, canonical value) for one domain, matched on word boundaries."""

    def __init__(self, domain: Domain) -> None:
        folded: list[tuple[str, str, str]] = []
        exact: list[tuple[str, str, str]] = []
        for entity in domain.entities.values():
            for canonical, synonyms in entity.values.items():
                for synonym in synonyms:
                    target = exact if any(c.isupper() for c in synonym) else folded
                    target.append(
                        (synonym if target is exact else fold(synonym), entity.name, canonical)
                    )
        self.folded = self._compile(folded, 0)
        self.exact = self._compile(exact, 0)
        self.by_synonym = {s: (e, c) for s, e, c in folded} | {s: (e, c) for s, e, c in exact}
        self.regexes = [
            (entity.name, re.compile(entity.regex, re.I))
            for entity in domain.entities.values()
            if entity.regex
        ]

    @staticmethod
    def _compile(items: list[tuple[str, str, str]], flags: int) -> re.Pattern[str] | None:
        if not items:
            return None
        words = sorted({s for s, _, _ in items}, key=len, reverse=True)
        alternation = "|".join(re.escape(w) for w in words)
        return re.compile(rf"(?<![\w.])(?:{alternation})(?![\w])", flags)

    def find(self, text: str) -> list[Entity]:
        found: list[Entity] = []
        for name, rx in self.regexes:
            for m in rx.finditer(text):
                found.append(
                    Entity(name, m.start(), m.end(), m.group(0), m.group(0).lower(), "regex")
                )
        searches: list[tuple[re.Pattern[str] | None, str]] = [
            (self.exact, text),
            (self.folded, fold(text)),
        ]
        for pattern, haystack in searches:
            if pattern is None:
                continue
            for m in pattern.finditer(haystack):
                entity, canonical = self.by_synonym[m.group(0)]
                found.append(
                    Entity(
                        entity, m.start(), m.end(), text[m.start() : m.end()], canonical, "lookup"
                    )
                )
        return _without_overlaps(found)

    def normalise(self, entity: str, text: str) -> str:
        hit = self.by_synonym.get(fold(text)) or self.by_synonym.get(text)
        return hit[1] if hit is not None and hit[0] == entity else text.lower()


def _without_overlaps(found: list[Entity], taken: Sequence[Entity] = ()) -> list[Entity]:
    """Longest first; a span overlapping one already kept is dropped."""
    kept: list[Entity] = list(taken)
    for e in sorted(found, key=lambda x: (-(x.end - x.start), x.start)):
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept[len(taken) :], key=lambda x: x.start)


class EntityExtractor:
    """``fit(domain)`` then ``extract(text, language)``; pickled with the NLU bundle."""

    def __init__(self, min_proba: float = TAGGER_MIN_PROBA) -> None:
        self.min_proba = min_proba

    def fit(self, domain: Domain, examples: Sequence[Example] | None = None) -> EntityExtractor:
        self.lookup_ = _Lookup(domain)
        self.taggers_: dict[str, tuple[DictVectorizer, OneVsRestClassifier] | None] = {}
        pool = list(domain.examples if examples is None else examples)
        for language in domain.languages:
            rows: list[dict[str, Any]] = []
            tags: list[str] = []
            for example in pool:
                if example.language != language:
                    continue
                tokens = _tokens(example.text)
                rows.extend(_features(tokens, i) for i in range(len(tokens)))
                tags.extend(_bio(example, tokens))
            if len(set(tags)) < 2:
                self.taggers_[language] = None
                continue
            vectorizer = DictVectorizer()
            x = _int32(vectorizer.fit_transform(rows))
            # liblinear (one tag against the rest) fits in a second where lbfgs took a minute.
            model = OneVsRestClassifier(
                LogisticRegression(C=3.0, solver="liblinear", class_weight="balanced")
            )
            model.fit(x, tags)
            self.taggers_[language] = (vectorizer, model)
        return self

    def extract(self, text: str, language: str) -> list[Entity]:
        return list(self.extract_many([text], [language])[0])

    def extract_many(
        self, texts: Sequence[str], languages: Sequence[str]
    ) -> list[tuple[Entity, ...]]:
        """``extract`` of every ``(text, language)``: the tagger runs once per language on the
        tokens of all the texts (each token's row is computed as it would be alone), and the
        last ``MEMO_SIZE`` results are remembered, so the dialogue's second look at a message
        (a form's slots) costs a dictionary read."""
        keys = list(zip(texts, languages, strict=True))
        return self._memo().get_many(keys, self._extract_new)

    def _extract_new(self, keys: list[tuple[str, str]]) -> list[tuple[Entity, ...]]:
        """``extract_many`` of keys not remembered: one tagger run per language."""
        out: dict[tuple[str, str], tuple[Entity, ...]] = {}
        for language in dict.fromkeys(lang for _, lang in keys):
            group = [text for text, lang in keys if lang == language]
            for text, tagged in zip(group, self._tagged_many(group, language), strict=True):
                found = self.lookup_.find(text)
                spans = sorted(found + _without_overlaps(tagged, found), key=lambda e: e.start)
                out[(text, language)] = tuple(spans)
        return [out[key] for key in keys]

    def _memo(self) -> BoundedMemo[tuple[str, str], tuple[Entity, ...]]:
        memo: BoundedMemo[tuple[str, str], tuple[Entity, ...]] | None = self.__dict__.get("_memo_")
        if memo is None:
            memo = self.__dict__["_memo_"] = BoundedMemo(MEMO_SIZE)
        return memo

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_memo_", None)  # a cache, not part of the model
        return state

    def _tagged_many(self, texts: Sequence[str], language: str) -> list[list[Entity]]:
        tagger = self.taggers_.get(language)
        tokens = [_tokens(text) for text in texts]
        if tagger is None or not any(tokens):
            return [[] for _ in texts]
        vectorizer, model = tagger
        rows = [_features(toks, i) for toks in tokens for i in range(len(toks))]
        x = _int32(vectorizer.transform(rows))
        scores = _ovr_scores(model, x)
        classes = list(model.classes_)
        out: list[list[Entity]] = []
        offset = 0
        for text, toks in zip(texts, tokens, strict=True):
            end = offset + len(toks)
            if not toks:
                proba = None
            elif scores is None:
                proba = model.predict_proba(x[offset:end])
            else:
                proba = _normalised(scores[offset:end])
            out.append(self._spans(text, toks, proba, classes) if toks else [])
            offset = end
        return out

    def _spans(
        self,
        text: str,
        tokens: list[tuple[int, int, str]],
        proba: Any,
        classes: list[str],
    ) -> list[Entity]:
        """The tagged spans of one text from its tokens' tag probabilities."""
        out: list[Entity] = []
        current: list[int] = []
        kind = ""

        def close() -> None:
            if current:
                start, end = tokens[current[0]][0], tokens[current[-1]][1]
                span = text[start:end]
                value = self.lookup_.normalise(kind, span)
                out.append(Entity(kind, start, end, span, value, "tagger"))

        for i in range(len(tokens)):
            best = int(proba[i].argmax())
            tag, p = classes[best], float(proba[i, best])
            if tag == "O" or p < self.min_proba:
                close()
                current, kind = [], ""
            elif tag.startswith("B-") or tag[2:] != kind:
                close()
                current, kind = [i], tag[2:]
            else:
                current.append(i)
        close()
        return out


def slots_for(
    entities: Sequence[Entity], intent: str, domain: Domain, only: Sequence[str] = ()
) -> dict[str, Entity]:
    """The slots ``entities`` fill for a message of ``intent``: a slot takes its entity when it
    accepts the intent (or is named in ``only``, the slots a form is asking for); the first
    mention wins."""
    out: dict[str, Entity] = {}
    for slot in domain.slots.values():
        if slot.name in out:
            continue
        if slot.name not in only and slot.intents and intent not in slot.intents:
            continue
        hit = next((e for e in entities if e.entity == slot.entity), None)
        if hit is not None:
            out[slot.name] = hit
    return out
