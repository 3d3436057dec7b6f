"""Input paths, input transformers and the event envelope's validation."""

from __future__ import annotations

from typing import Any

import pytest

from ssmas.adops.events.envelope import EventError, parse_event
from ssmas.adops.events.transform import (
    InputTransformer,
    TransformError,
    compile_key,
    compile_path,
    fill_key,
    resolve_path,
)

EVENT: dict[str, Any] = {
    "id": "e1",
    "source": "aws.guardduty",
    "detail-type": "GuardDuty Finding",
    "time": "2026-12-01T10:00:00Z",
    "resources": ["r0", "r1"],
    "detail": {"severity": 8, "type": "Recon:EC2/PortProbe", "note": 'say "hi"', "ok": True},
}


def test_paths() -> None:
    assert resolve_path(EVENT, compile_path("$")) == EVENT
    assert resolve_path(EVENT, compile_path("$.detail.severity")) == 8
    assert resolve_path(EVENT, compile_path("$.resources[1]")) == "r1"
    assert resolve_path(EVENT, compile_path("$.resources[5]")) is None
    assert resolve_path(EVENT, compile_path("$.detail.missing.deeper")) is None
    for bad in ("detail", "$.", "$..x", "$[a]", "$.a b"):
        with pytest.raises(TransformError):
            compile_path(bad)


def test_the_seeds_security_template() -> None:
    transformer = InputTransformer.build(
        {"severity": "$.detail.severity", "finding_type": "$.detail.type"},
        '{"agent_type": "security", "context": {"severity": "<severity>", '
        '"finding_type": "<finding_type>", "source_event": <aws.events.event>}}',
    )
    out = transformer.apply(EVENT, "security-incident-detected")
    assert out == {
        "agent_type": "security",
        "context": {"severity": "8", "finding_type": "Recon:EC2/PortProbe", "source_event": EVENT},
    }


def test_values_inside_strings_are_text_and_outside_are_json() -> None:
    t = InputTransformer.build(
        {"note": "$.detail.note", "ok": "$.detail.ok", "gone": "$.detail.gone"},
        '{"quoted": "<note>", "raw": <note>, "flag": <ok>, "none": <gone>, '
        '"rule": "<aws.events.rule-name>"}',
    )
    assert t.apply(EVENT, "r") == {
        "quoted": 'say "hi"',
        "raw": 'say "hi"',
        "flag": True,
        "none": None,
        "rule": "r",
    }


def test_a_template_that_is_not_json_gives_its_text() -> None:
    t = InputTransformer.build({"t": "$.detail.type"}, "finding <t> seen")
    assert t.apply(EVENT, "r") == 'finding "Recon:EC2/PortProbe" seen'
    with pytest.raises(TransformError, match="<missing>"):
        InputTransformer.build({}, '"<missing>"')


def test_key_templates() -> None:
    parts = compile_key("<$.detail.type>:<$.resources[0]>:<$.nothing>")
    assert fill_key(parts, EVENT) == "Recon:EC2/PortProbe:r0:"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"source": None}, "source"),
        ({"detail-type": ""}, "detail-type"),
        ({"detail": [1]}, "detail"),
        ({"time": "2026-12-01T10:00:00"}, "time"),  # no timezone
        ({"time": "1969-12-31T23:59:59Z"}, "time"),
        ({"time": "0001-01-01T00:00:00+05:00"}, "time"),
        ({"id": "a b"}, "id"),
        ({"resources": "r0"}, "resources"),
        ({"colour": "red"}, "colour"),
        ({"detail": {"n": 2**70}}, "detail"),
    ],
)
def test_invalid_events_name_the_field(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event({**EVENT, **change})
    message = str(caught.value)
    assert message.startswith("event: ") and fragment in message and "\n" not in message


def test_an_event_round_trips_through_its_document() -> None:
    event = parse_event({**EVENT, "time": "2026-12-01T11:00:00+01:00"})
    document = event.document()
    assert document["time"] == "2026-12-01T10:00:00Z"
    assert parse_event(document) == event
    with pytest.raises(EventError, match="not JSON"):
        parse_event(b"{")
    assert parse_event({"source": "s", "detail-type": "d"}).id  # defaults filled in
