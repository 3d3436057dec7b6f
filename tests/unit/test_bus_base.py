"""The bus port's pure pieces: names, arguments, payload encoding, times and dead-letter headers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ssmas.core.bus as bus_package
from ssmas.core.bus.arguments import (
    as_deliveries,
    check_consume_args,
    check_key,
    check_label,
    check_limit,
    check_offset,
    check_seconds,
    check_topic,
    split_item,
)
from ssmas.core.bus.base import (
    HEADER_ERROR,
    HEADER_TOPIC,
    Delivery,
    InvalidBusInput,
    Message,
    dlq_topic,
    poll,
)
from ssmas.core.bus.codec import (
    dead_letter_headers,
    encode_headers,
    encode_payload,
    from_micros,
    stored_message,
    to_micros,
)


def test_public_names_all_resolve() -> None:
    exported = bus_package.__all__
    assert len(set(exported)) == len(exported)
    assert all(hasattr(bus_package, name) for name in exported)
    assert {"Bus", "Delivery", "Message", "open_bus", "bus_from_settings"} <= set(exported)


@pytest.mark.parametrize("topic", ["orders", "pricing.bids-v2", "a", "x_1.dlq"])
def test_valid_topics_pass(topic: str) -> None:
    assert check_topic(topic) == topic


@pytest.mark.parametrize("topic", ["", "has space", "a:b", ".dot-first", "x" * 201, 3])
def test_invalid_topics_are_refused(topic: object) -> None:
    with pytest.raises(InvalidBusInput, match="topic"):
        check_topic(topic)  # type: ignore[arg-type]


def test_group_and_consumer_names_allow_host_style_names_but_not_spaces() -> None:
    assert check_label("consumer", "web-1.local-4242") == "web-1.local-4242"
    for bad in ("", "two words", "tab\there", "x" * 201):
        with pytest.raises(InvalidBusInput, match="group"):
            check_label("group", bad)


def test_dlq_topic_appends_the_suffix() -> None:
    assert dlq_topic("orders") == "orders.dlq"


@pytest.mark.parametrize(
    ("max_messages", "visibility", "wait"),
    [(0, 1.0, 0.0), (10_001, 1.0, 0.0), (1, 0.0, 0.0), (1, float("nan"), 0.0), (1, 1.0, -1.0)],
)
def test_consume_arguments_out_of_range_are_refused(
    max_messages: int, visibility: float, wait: float
) -> None:
    with pytest.raises(InvalidBusInput):
        check_consume_args(max_messages, visibility, wait)


def test_seconds_limits_and_offsets_are_checked() -> None:
    assert check_seconds("delay_s", 0) == 0.0
    assert check_limit(1) == 1 and check_offset(None) == 0 and check_offset(7) == 7
    bad_calls: list[Callable[[], object]] = [
        lambda: check_seconds("delay_s", float("inf")),
        lambda: check_limit(0),
        lambda: check_offset(-1),
        lambda: check_key(""),
    ]
    for bad_call in bad_calls:
        with pytest.raises(InvalidBusInput):
            bad_call()


def test_payload_encoding_accepts_rich_values_and_refuses_the_rest() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    text = encode_payload({"at": moment, "price": Decimal("1.25"), "tags": ("a",)})
    assert json.loads(text) == {"at": "2025-01-02T03:04:05Z", "price": "1.25", "tags": ["a"]}
    with pytest.raises(InvalidBusInput, match="mapping"):
        encode_payload(["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(InvalidBusInput, match="JSON"):
        encode_payload({"x": object()})


def test_headers_must_be_strings() -> None:
    assert encode_headers(None) == "{}"
    assert json.loads(encode_headers({"a": "b"})) == {"a": "b"}
    with pytest.raises(InvalidBusInput, match="headers"):
        encode_headers({"a": 1})  # type: ignore[dict-item]


def test_batch_items_are_payloads_or_key_payload_pairs() -> None:
    assert split_item({"n": 1}) == (None, {"n": 1})
    assert split_item(("k", {"n": 1})) == ("k", {"n": 1})
    with pytest.raises(InvalidBusInput, match="tuple"):
        split_item((1, {"n": 1}))  # type: ignore[arg-type]


@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(1971, 1, 1)))
def test_micros_round_trip_exactly(moment: datetime) -> None:
    assert from_micros(to_micros(moment, "since")) == moment


def test_micros_respect_offsets_and_refuse_naive_times() -> None:
    plus_two = datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert from_micros(to_micros(plus_two, "since")) == datetime(2025, 1, 1, 10, tzinfo=UTC)
    with pytest.raises(InvalidBusInput, match="timezone-aware"):
        to_micros(datetime(2025, 1, 1), "before")


def test_message_requires_an_aware_publish_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Message(topic="t", id="1", payload={}, published_at=datetime(2025, 1, 1), offset=1)


def test_dead_letter_headers_keep_originals_and_say_why() -> None:
    headers = dead_letter_headers(
        {"trace": "x"}, message=("orders", "m1", 4), group="g", attempts=5, error="boom"
    )
    assert headers["trace"] == "x" and headers[HEADER_TOPIC] == "orders"
    assert headers[HEADER_ERROR] == "boom"
    quiet = dead_letter_headers({}, message=("o", "m", 1), group="g", attempts=1, error=None)
    assert HEADER_ERROR not in quiet


def test_one_or_many_deliveries_become_a_list() -> None:
    message = Message(topic="t", id="1", payload={}, published_at=datetime.now(UTC), offset=1)
    delivery = Delivery(message, "g", "c", 1, "1:1")
    assert as_deliveries(delivery) == [delivery]
    assert as_deliveries((delivery, delivery)) == [delivery, delivery]


def test_poll_returns_as_soon_as_something_is_claimed() -> None:
    message = Message(topic="t", id="1", payload={}, published_at=datetime.now(UTC), offset=1)
    answers: list[list[Delivery]] = [[], [], [Delivery(message, "g", "c", 1, "r")]]
    calls: list[int] = []

    def claim() -> list[Delivery]:
        calls.append(1)
        return answers[len(calls) - 1]

    assert len(poll(claim, wait_s=5)) == 1 and len(calls) == 3
    assert poll(lambda: [], wait_s=0) == []


def test_stored_messages_round_trip_awkward_text_exactly() -> None:
    published = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    payload = {"n": 1.5, "big": 2**70, "text": 'quote " backslash \\ é \u2028'}
    message = stored_message(
        "orders",
        'id"with\\odd/group',
        'key "q" é\t',
        encode_payload(payload),
        encode_headers({"h": "v"}),
        to_micros(published, "at"),
        7,
    )
    assert message.payload == payload
    assert (message.id, message.key) == ('id"with\\odd/group', 'key "q" é\t')
    assert message.headers == {"h": "v"} and message.offset == 7
    assert message.published_at == published and message.published_at.utcoffset() == timedelta(0)
