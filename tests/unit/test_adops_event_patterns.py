"""Event patterns: EventBridge's documented examples as a table, and properties (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmas.adops.events.pattern import PatternError, compile_pattern, matches

ARNS = [
    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
    "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f",
]

# (pattern, event, expected): the examples of EventBridge's content-filtering documentation
DOCUMENTED: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    ({"source": ["aws.ec2", "aws.fargate"]}, {"source": "aws.fargate"}, True),
    ({"source": ["aws.ec2", "aws.fargate"]}, {"source": "aws.s3"}, False),
    ({"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-02T18:43:48Z"}, True),
    ({"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-03T18:43:48Z"}, False),
    ({"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}, {"service": "eventbridge"}, True),
    ({"FileName": [{"suffix": ".png"}]}, {"FileName": "photo.png"}, True),
    ({"FileName": [{"suffix": ".png"}]}, {"FileName": "photo.jpg"}, False),
    ({"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}, {"FileName": "a.PNG"}, True),
    ({"state": [{"anything-but": "initializing"}]}, {"state": "running"}, True),
    ({"state": [{"anything-but": "initializing"}]}, {"state": "initializing"}, False),
    ({"state": [{"anything-but": "initializing"}]}, {}, False),
    ({"x-limit": [{"anything-but": 123}]}, {"x-limit": 456}, True),
    ({"x-limit": [{"anything-but": 123}]}, {"x-limit": 123.0}, False),
    ({"state": [{"anything-but": ["stopped", "overloaded"]}]}, {"state": "stopped"}, False),
    ({"state": [{"anything-but": ["stopped", "overloaded"]}]}, {"state": "pending"}, True),
    ({"state": [{"anything-but": {"prefix": "init"}}]}, {"state": "initializing"}, False),
    ({"state": [{"anything-but": {"prefix": "init"}}]}, {"state": "running"}, True),
    ({"FileName": [{"anything-but": {"suffix": ".txt"}}]}, {"FileName": "notes.txt"}, False),
    (
        {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]},
        {"state": "INITIALIZING"},
        False,
    ),
    ({"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"c-count": 5}, True),
    ({"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"c-count": 0}, False),
    ({"d-count": [{"numeric": ["<", 10]}]}, {"d-count": 10}, False),
    ({"x-limit": [{"numeric": ["=", 3.018e2]}]}, {"x-limit": 301.8}, True),
    ({"x-limit": [{"numeric": ["=", 3.018e2]}]}, {"x-limit": "301.8"}, False),
    ({"source-ip": [{"cidr": "10.0.0.0/24"}]}, {"source-ip": "10.0.0.255"}, True),
    ({"source-ip": [{"cidr": "10.0.0.0/24"}]}, {"source-ip": "10.0.1.1"}, False),
    ({"detail": {"state": [{"exists": True}]}}, {"detail": {"state": "on"}}, True),
    ({"detail": {"state": [{"exists": True}]}}, {"detail": {}}, False),
    ({"detail": {"state": [{"exists": False}]}}, {"detail": {"other": 1}}, True),
    ({"detail": {"state": [{"exists": False}]}}, {"detail": {"state": "on"}}, False),
    ({"LastName": [""]}, {"LastName": ""}, True),
    ({"UserID": [None]}, {"UserID": None}, True),
    ({"UserID": [None]}, {}, False),
    ({"name": [{"equals-ignore-case": "alice"}]}, {"name": "ALICE"}, True),
    ({"resources": ARNS}, {"resources": ["arn:aws:autoscaling:x", ARNS[0]]}, True),
    ({"resources": ARNS}, {"resources": ["arn:aws:autoscaling:x"]}, False),
    (
        {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
        {"EventBusArn": "arn:aws:events:us-east-1:123:event-bus/prod"},
        True,
    ),
    (
        {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
        {"EventBusArn": "arn:aws:events:eu-west-1:123:event-bus/prod"},
        False,
    ),
    (
        {
            "$or": [
                {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                {"d-count": [{"numeric": ["<", 10]}]},
            ]
        },
        {"c-count": 9, "d-count": 3},
        True,
    ),
    (
        {
            "$or": [
                {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                {"d-count": [{"numeric": ["<", 10]}]},
            ]
        },
        {"c-count": 9, "d-count": 30},
        False,
    ),
    ({"flag": [True]}, {"flag": 1}, False),
    ({"flag": [1]}, {"flag": True}, False),
    ({"detail": {"state": ["on"]}}, {"detail": "on"}, False),
    (
        {"detail": {"items": {"sku": ["a"]}}},
        {"detail": {"items": [{"sku": "b"}, {"sku": "a"}]}},
        True,
    ),
    # the seed's rules (001): metrics_affected > 2, revenue impact nested two levels down
    (
        {"detail": {"severity": ["CRITICAL", "HIGH"], "metrics_affected": [{"numeric": {">": 2}}]}},
        {"detail": {"severity": "HIGH", "metrics_affected": 3}},
        True,
    ),
    (
        {"detail": {"impact_assessment": {"revenue_impact": [{"numeric": [">", 1000]}]}}},
        {"detail": {"impact_assessment": {"revenue_impact": 999.5}}},
        False,
    ),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), DOCUMENTED)
def test_documented_examples(
    pattern: dict[str, Any], event: dict[str, Any], expected: bool
) -> None:
    assert matches(pattern, event) is expected


@pytest.mark.parametrize(
    ("pattern", "where"),
    [
        ({"source": "aws.ec2"}, "source"),
        ({"source": []}, "source"),
        ({"detail": {"x": [{"numeric": [">", "a"]}]}}, "detail.x[0]"),
        ({"detail": {"x": [{"numeric": ["<", 5, ">", 1]}]}}, "detail.x[0]"),
        ({"detail": {"x": [{"numeric": [">", 5, "<", 1]}]}}, "detail.x[0]"),
        ({"x": [{"prefix": 3}]}, "x[0]"),
        ({"x": [{"between": 3}]}, "x[0]"),
        ({"x": [{"prefix": "a", "suffix": "b"}]}, "x[0]"),
        ({"x": [{"exists": "yes"}]}, "x[0]"),
        ({"x": [{"anything-but": []}]}, "x[0]"),
        ({"x": [{"cidr": "300.1.1.1/8"}]}, "x[0]"),
        ({"x": [["a"]]}, "x[0]"),
        ({"$or": [{"a": ["b"]}]}, "$or"),
        ({}, "pattern"),
        ([], "pattern"),
    ],
)
def test_invalid_patterns_name_the_path(pattern: Any, where: str) -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(pattern)
    assert str(caught.value).startswith(f"{where}:")


scalars = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
)
names = st.text(alphabet="abcdefgh-_", min_size=1, max_size=6).filter(lambda s: s != "$or")


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(names, scalars)
def test_an_exact_value_matches_itself_and_needs_the_field(field: str, value: Any) -> None:
    assert matches({field: [value]}, {field: value})
    assert not matches({field: [value]}, {field + "x": value})


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(names, scalars, scalars, scalars)
def test_a_list_is_an_or(field: str, a: Any, b: Any, seen: Any) -> None:
    event = {field: seen}
    assert matches({field: [a, b]}, event) == (
        matches({field: [a]}, event) or matches({field: [b]}, event)
    )


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(
    names,
    st.one_of(st.text(max_size=8), st.integers(-50, 50)),
    st.one_of(st.text(max_size=8), st.integers(-50, 50)),
)
def test_anything_but_is_the_negation_of_exact_on_present_values(
    field: str, excluded: Any, seen: Any
) -> None:
    event = {field: seen}
    assert matches({field: [{"anything-but": excluded}]}, event) == (
        not matches({field: [excluded]}, event)
    )


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(-1e6, 1e6, allow_nan=False),
)
def test_numeric_ranges_compare_as_numbers(x: float, a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    if lo == hi:
        hi = lo + 1.0
    pattern = {"v": [{"numeric": [">", lo, "<=", hi]}]}
    assert matches(pattern, {"v": x}) == (lo < x <= hi)
    assert not matches(pattern, {"v": str(x)})


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.text(max_size=10), st.text(max_size=10))
def test_prefix_and_suffix(head: str, tail: str) -> None:
    assert matches({"v": [{"prefix": head}]}, {"v": head + tail})
    assert matches({"v": [{"suffix": tail}]}, {"v": head + tail})
    assert matches({"v": [{"equals-ignore-case": head}]}, {"v": head.upper()}) == (
        head.upper().casefold() == head.casefold()
    )


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(names, scalars, st.lists(scalars, max_size=5), st.integers(0, 5))
def test_an_array_in_the_event_matches_if_any_element_does(
    field: str, value: Any, others: list[Any], at: int
) -> None:
    items = list(others)
    items.insert(min(at, len(items)), value)
    assert matches({field: [value]}, {field: items})


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(names, scalars, st.booleans())
def test_exists_true_and_false_are_complements(field: str, value: Any, present: bool) -> None:
    event = {field: value} if present else {}
    assert matches({field: [{"exists": True}]}, event) == present
    assert matches({field: [{"exists": False}]}, event) == (not present)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.dictionaries(names, scalars, max_size=4), names, scalars)
def test_nested_patterns_look_inside_their_object(
    inner: dict[str, Any], field: str, value: Any
) -> None:
    event = {"detail": {**inner, field: value}}
    assert matches({"detail": {field: [value]}}, event)
    assert not matches({"detail": {field: [value]}}, {"other": {field: value}})
