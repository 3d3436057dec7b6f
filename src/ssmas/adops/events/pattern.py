"""Event patterns with EventBridge's semantics, compiled once into plain predicates.

A pattern is a JSON object shaped like the events it matches. Keys are ANDed; a leaf is a
non-empty list whose items are ORed: exact values (strings, numbers, booleans, ``null``) or one
operator object each: ``prefix``, ``suffix``, ``equals-ignore-case``, ``wildcard``,
``anything-but`` (a value, a list of values, or ``prefix`` / ``suffix`` /
``equals-ignore-case``), ``numeric`` (``[">", 0, "<=", 5]``), ``exists`` (true / false) and
``cidr``. ``"$or": [pattern, ...]`` matches when any sub-pattern does. When the event holds an
array, a leaf matches if any element does, and a nested pattern if any element object does.
A field the pattern names must be in the event (``exists: false`` is the one way to ask for its
absence); numbers compare as numbers (``5`` equals ``5.0``), never as booleans.

``compile_pattern`` raises :class:`PatternError` naming the path of the first bad part.
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["MISSING", "Matcher", "PatternError", "compile_pattern", "matches"]

MISSING: Any = object()  # what a leaf sees when the event lacks its field
_SCALARS = frozenset({str, int, float, bool, type(None)})
Leaf = Callable[[Any], bool]  # one ORed item, shown one scalar value
Matcher = Callable[[Any], bool]  # a whole pattern, shown the event (a mapping)

_COMPARE: dict[str, Callable[[Any, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
}
_NUMERIC_OPS = set(_COMPARE)
MAX_DEPTH = 32


class PatternError(ValueError):
    """A pattern that is not valid; the message names where (``detail.severity[1]``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or 'pattern'}: {message}")
        self.path = path


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, booleans only with booleans."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return type(a) is type(b) and a == b


def _string(path: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise PatternError(path, f"{name} needs a string, got {type(value).__name__}")
    return value


def _exact(expected: Any) -> Leaf:
    if isinstance(expected, str):
        return lambda v: type(v) is str and v == expected
    if expected is None:
        return lambda v: v is None
    if isinstance(expected, bool):
        return lambda v: isinstance(v, bool) and v is expected
    number = float(expected)
    return lambda v: _is_number(v) and float(v) == number


def _wildcard(path: str, text: str) -> re.Pattern[str]:
    if "**" in text:
        raise PatternError(path, "wildcard may not hold consecutive '*'")
    parts = (re.escape(p) for p in text.split("*"))
    return re.compile(".*".join(parts), re.DOTALL)


def _string_op(path: str, name: str, arg: Any) -> Callable[[str], bool]:
    """prefix / suffix / equals-ignore-case / wildcard on a string value; prefix and suffix may
    take ``{"equals-ignore-case": "..."}`` to ignore case."""
    if name in ("prefix", "suffix") and isinstance(arg, Mapping):
        if set(arg) != {"equals-ignore-case"}:
            raise PatternError(path, f"{name} takes a string or {{equals-ignore-case: ...}}")
        low = _string(path, name, arg["equals-ignore-case"]).casefold()
        if name == "prefix":
            return lambda v: v.casefold().startswith(low)
        return lambda v: v.casefold().endswith(low)
    text = _string(path, name, arg)
    if name == "prefix":
        return lambda v: v.startswith(text)
    if name == "suffix":
        return lambda v: v.endswith(text)
    if name == "equals-ignore-case":
        low = text.casefold()
        return lambda v: v.casefold() == low
    regex = _wildcard(path, text)
    return lambda v: regex.fullmatch(v) is not None


def _numeric(path: str, arg: Any) -> Leaf:
    # The seed writes numeric: {">": 2}; EventBridge's form is [">", 2]. Both are accepted.
    if isinstance(arg, Mapping):
        arg = [x for pair in arg.items() for x in pair]
    if not isinstance(arg, list) or not arg or len(arg) % 2 or len(arg) > 4:
        raise PatternError(path, "numeric takes [op, number] or [op, number, op, number]")
    checks: list[tuple[str, float]] = []
    for i in range(0, len(arg), 2):
        op, bound = arg[i], arg[i + 1]
        if op not in _NUMERIC_OPS:
            raise PatternError(
                path, f"numeric operator {op!r} is not one of {sorted(_NUMERIC_OPS)}"
            )
        if not _is_number(bound) or not math.isfinite(bound):
            raise PatternError(path, f"numeric bound after {op!r} must be a finite number")
        checks.append((op, float(bound)))
    ops = [op for op, _ in checks]
    if len(checks) == 2 and not (ops[0] in (">", ">=") and ops[1] in ("<", "<=")):
        raise PatternError(path, "a numeric range is a lower bound (> or >=) then an upper one")
    if len(checks) == 2 and checks[0][1] >= checks[1][1]:
        raise PatternError(path, "numeric range is empty: the lower bound is not below the upper")

    compare = tuple((_COMPARE[op], bound) for op, bound in checks)

    def test(value: Any) -> bool:
        kind = type(value)
        if kind is not float and kind is not int and not _is_number(value):
            return False
        for op, bound in compare:  # noqa: SIM110 (hot path: no generator per call)
            if not op(value, bound):
                return False
        return True

    return test


def _anything_but(path: str, arg: Any) -> Leaf:
    if isinstance(arg, Mapping):
        if len(arg) != 1:
            raise PatternError(path, "anything-but takes one of prefix, suffix, equals-ignore-case")
        ((name, inner),) = arg.items()
        if name not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise PatternError(path, f"anything-but does not take {name!r}")
        if isinstance(inner, list):
            tests = [_string_op(path, name, x) for x in inner]
        else:
            tests = [_string_op(path, name, inner)]
        if not tests:
            raise PatternError(path, f"anything-but {name} needs at least one value")
        return lambda v: isinstance(v, str) and not any(t(v) for t in tests)
    values = arg if isinstance(arg, list) else [arg]
    if not values:
        raise PatternError(path, "anything-but needs at least one value")
    for value in values:
        if not (isinstance(value, str) or _is_number(value)):
            raise PatternError(path, "anything-but values must be strings or numbers")
    exacts = [_exact(v) for v in values]
    return lambda v: v is not MISSING and not any(t(v) for t in exacts)


def _cidr(path: str, arg: Any) -> Leaf:
    try:
        network = ipaddress.ip_network(_string(path, "cidr", arg), strict=False)
    except ValueError as exc:
        raise PatternError(path, f"cidr: {exc}") from None

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value) in network
        except ValueError:
            return False

    return test


def _operator(path: str, item: Mapping[str, Any]) -> tuple[Leaf, bool | None]:
    """One operator object: its test, and for ``exists`` the wanted presence."""
    if len(item) != 1:
        raise PatternError(path, f"an operator object holds exactly one key, got {sorted(item)}")
    ((name, arg),) = item.items()
    if name == "exists":
        if not isinstance(arg, bool):
            raise PatternError(path, "exists takes true or false")
        return (lambda v: v is not MISSING), arg
    if name in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        test = _string_op(path, name, arg)
        return (lambda v: isinstance(v, str) and test(v)), None
    if name == "numeric":
        return _numeric(path, arg), None
    if name == "anything-but":
        return _anything_but(path, arg), None
    if name == "cidr":
        return _cidr(path, arg), None
    raise PatternError(path, f"unknown operator {name!r}")


def _leaf(path: str, items: list[Any]) -> Matcher:
    """A list of ORed items, compiled into a test of the field's value (or ``MISSING``)."""
    if not items:
        raise PatternError(path, "a list of values must not be empty")
    present: list[Leaf] = []
    absent_ok = False
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if isinstance(item, Mapping):
            test, exists = _operator(where, item)
            if exists is False:
                absent_ok = True
            elif exists is True:
                present.append(lambda v: True)
            else:
                present.append(test)
        elif isinstance(item, list):
            raise PatternError(where, "lists do not nest in a pattern")
        elif isinstance(item, str | bool) or item is None or _is_number(item):
            if isinstance(item, float) and not math.isfinite(item):
                raise PatternError(where, "numbers must be finite")
            present.append(_exact(item))
        else:
            raise PatternError(where, f"unsupported value of type {type(item).__name__}")

    tests = tuple(present)

    def test_value(value: Any) -> bool:
        if value is MISSING:
            return absent_ok
        kind = type(value)
        if kind not in _SCALARS:
            if kind is list:
                return any(t(v) for v in value if not _is_container(v) for t in tests)
            if kind is dict or isinstance(value, Mapping):
                return False  # operators apply to leaf values only
        for test in tests:  # noqa: SIM110 (hot path: no generator per call)
            if test(value):
                return True
        return False

    return test_value


def _is_container(value: Any) -> bool:
    return type(value) in (dict, list) or isinstance(value, Mapping | list)


def _mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _object(path: str, pattern: Any, depth: int) -> Matcher:
    if depth > MAX_DEPTH:
        raise PatternError(path, f"pattern nests deeper than {MAX_DEPTH} levels")
    if not isinstance(pattern, Mapping):
        raise PatternError(path, f"expected an object, got {type(pattern).__name__}")
    if not pattern:
        raise PatternError(path, "an object in a pattern must name at least one field")
    parts: list[Matcher] = []
    for key, sub in pattern.items():
        if not isinstance(key, str):
            raise PatternError(path, f"field names are strings, got {key!r}")
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(sub, list) or len(sub) < 2:
                raise PatternError(where, "$or takes a list of at least two patterns")
            alternatives = [_object(f"{where}[{i}]", s, depth + 1) for i, s in enumerate(sub)]
            parts.append(_any_of(alternatives))
        elif isinstance(sub, list):
            parts.append(_field_leaf(key, _leaf(where, sub)))
        elif isinstance(sub, Mapping):
            parts.append(_field_object(key, _object(where, sub, depth + 1)))
        else:
            raise PatternError(where, "a field's value is a list of values or a nested object")
    if len(parts) == 1:
        return parts[0]

    def match_all(event: Any) -> bool:
        for part in parts:  # noqa: SIM110 (hot path: no generator per call)
            if not part(event):
                return False
        return True

    return match_all


def _any_of(alternatives: list[Matcher]) -> Matcher:
    return lambda event: any(a(event) for a in alternatives)


def _field_leaf(key: str, test: Matcher) -> Matcher:
    def match(event: Any) -> bool:
        return test(event.get(key, MISSING) if _mapping(event) else MISSING)

    return match


def _field_object(key: str, inner: Matcher) -> Matcher:
    def match(event: Any) -> bool:
        value = event.get(key, MISSING) if _mapping(event) else MISSING
        if _mapping(value):
            return inner(value)
        if type(value) is list:
            return any(_mapping(v) and inner(v) for v in value)
        return inner({})  # only exists:false leaves can match inside a missing object

    return match


def compile_pattern(pattern: Any) -> Matcher:
    """The predicate of ``pattern``; :class:`PatternError` if it is not a valid pattern."""
    return _object("", pattern, 0)


def matches(pattern: Any, event: Mapping[str, Any] | Sequence[Any]) -> bool:
    """Whether ``event`` (a JSON object) matches ``pattern`` (compiled each call)."""
    return compile_pattern(pattern)(event)
