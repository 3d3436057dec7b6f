"""Bulk validation: the request model, the answer in input order whatever the chunking, the
pool made once and reused, duplicates within a batch, presence flags passed through."""

from __future__ import annotations

import json
import os
import random
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ssmas.campaigns.phone import (
    MAX_BATCH,
    PLATFORMS,
    BulkBatch,
    BulkValidationRequest,
    BulkValidator,
    PhoneInput,
    Reason,
    check_many,
    check_phone,
    check_reference,
    lada_catalogue,
    mark_duplicates,
    read_bulk_request,
)

FORMS = ["{n}", "+52 {n}", "044 {n}", "01 {n}", "+52 1 {n}", "({a}) {b}", "{short}", "{n}x", ""]


def mixed_batch(size: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    codes = [lada.code for lada in lada_catalogue()] + ["800", "220", "123"]
    batch = []
    for _ in range(size):
        code = rng.choice(codes)
        n = code + "".join(rng.choice("0123456789") for _ in range(10 - len(code)))
        form = rng.choice(FORMS)
        batch.append(form.format(n=n, a=n[:3], b=n[3:], short=n[:8]))
    return batch


def test_check_many_and_check_phone_are_the_reference_answers() -> None:
    batch = mixed_batch(500)
    expected = [check_reference(raw) for raw in batch]
    assert check_many(batch) == expected
    assert [check_phone(raw) for raw in batch] == expected
    assert {check.reason for check in expected} >= {None, Reason.TOO_SHORT, Reason.NON_DIGIT}


def test_the_pool_answers_in_order_whatever_the_chunking_and_is_reused() -> None:
    batch = mixed_batch(300)
    expected = check_many(batch)
    with BulkValidator(workers=2, inline_below=1) as validator:
        assert validator.check(batch) == expected
        pool = validator._pool
        assert pool is not None
        assert validator.check(batch[::-1]) == expected[::-1]
        for size in (1, 2, 3, 4, 5, 7, 299):  # fewer numbers than chunks, uneven chunks
            assert validator.check(batch[:size]) == expected[:size]
        assert validator._pool is pool  # one pool for every batch
    assert validator._pool is None


def test_small_batches_stay_in_process() -> None:
    validator = BulkValidator(workers=2, inline_below=100)
    assert validator.check(mixed_batch(99)) == check_many(mixed_batch(99))
    assert validator._pool is None


def test_dedup_reports_each_repeat_by_its_first_occurrence() -> None:
    numbers = [
        "55 1234 5678",
        "abc",
        "+52 1 55 1234 5678",  # the first number again
        "33 1234 5678",
        "abc",  # rejected inputs are not numbers to repeat
        "044 (55) 1234-5678",  # the first again
        "0133 1234 5678",  # the fourth again
        "800 123 4567",  # a toll-free number, repeated below: still the same number
        "01 800 123 4567",
    ]
    validator = BulkValidator(workers=1)
    answer = validator.validate(BulkValidationRequest(numbers=numbers, dedup=True))
    marks = [item.duplicate_of for item in answer.items]
    assert marks == [None, None, 0, None, None, 0, 3, None, 7]
    assert answer.summary.duplicates == 4
    assert [item.phone for item in answer.items] == numbers
    plain = validator.validate(BulkValidationRequest(numbers=numbers))
    assert [item.duplicate_of for item in plain.items] == [None] * len(numbers)
    assert plain.summary.duplicates == 0
    assert mark_duplicates(check.e164 for check in check_many(numbers)) == marks


def test_presence_flags_pass_through_untouched() -> None:
    request = BulkValidationRequest.model_validate(
        {
            "numbers": [
                {"phone": "5512345678", "whatsapp": True, "instagram": False},
                "3312345678",
                {"phone": "8112345678", "facebook": True, "google": True, "apple": False},
                {"phone": "bad", "whatsapp": False},
            ]
        }
    )
    answer = BulkValidator(workers=1).validate(request)
    assert [item.presence for item in answer.items] == [
        {"whatsapp": True, "instagram": False},
        None,
        {"facebook": True, "google": True, "apple": False},
        {"whatsapp": False},
    ]
    # Flags are what the caller knows: they never change the validation.
    assert answer.items[3].check.reason is Reason.NON_DIGIT


def test_the_summary_counts_every_reason() -> None:
    batch = mixed_batch(400, seed=3)
    answer = BulkValidator(workers=1).validate(BulkValidationRequest(numbers=batch))
    checks = check_many(batch)
    assert answer.summary.total == 400
    assert answer.summary.valid == sum(check.valid for check in checks)
    for reason in Reason:
        count = sum(check.reason is reason for check in checks)
        assert answer.summary.rejected.get(reason.value, 0) == count


def test_the_answer_encodes_to_json() -> None:
    request = BulkValidationRequest(numbers=["+52 1 55 1234 5678", "8001234567"], dedup=True)
    body = json.loads(BulkValidator(workers=1).validate(request).to_json())
    first, second = body["items"]
    assert first["check"]["e164"] == "+525512345678" and first["check"]["legacy_prefix"] == "1"
    assert first["check"]["line_type"] == "fixed_line_or_mobile"
    assert second["check"]["reason"] == "non_geographic" and second["duplicate_of"] is None
    assert body["summary"] == {
        "total": 2,
        "valid": 1,
        "rejected": {"non_geographic": 1},
        "duplicates": 0,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"numbers": []},
        {"numbers": ["5512345678"] * (MAX_BATCH + 1)},
        {"numbers": ["5" * 257]},
        {"numbers": [{"phone": "5512345678", "whatsapp": "yes"}]},
        {"numbers": [{"phone": "5512345678", "telegram": True}]},
        {"numbers": [{"whatsapp": True}]},
        {"numbers": [5512345678]},
        {"numbers": ["5512345678"], "tenant": "other"},
    ],
    ids=[
        "empty",
        "over the limit",
        "field too long",
        "flag not a boolean",
        "unknown platform",
        "no phone",
        "a number not a string",
        "unknown field",
    ],
)
def test_the_request_refuses_bad_bodies(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BulkValidationRequest.model_validate(body)


def test_the_request_takes_the_limit_and_bare_strings() -> None:
    request = BulkValidationRequest.model_validate({"numbers": ["5512345678"] * MAX_BATCH})
    assert len(request.numbers) == MAX_BATCH
    assert request.numbers[0] == PhoneInput(phone="5512345678")
    assert request.numbers[0].presence() is None and request.dedup is False


def pydantic_batch(body: str) -> BulkBatch | None:
    try:
        return BulkValidationRequest.model_validate_json(body).batch()
    except ValidationError:
        return None


def assert_reads_as_the_contract(body: str) -> None:
    expected = pydantic_batch(body)
    if expected is None:
        with pytest.raises(ValidationError):
            read_bulk_request(body)
    else:
        assert read_bulk_request(body) == expected
        assert read_bulk_request(body.encode()) == expected


@pytest.mark.parametrize(
    "body",
    [
        '{"numbers": ["5512345678", {"phone": "33 1234 5678", "whatsapp": true}]}',
        '{"numbers": [{"phone": "1", "instagram": null, "apple": false}], "dedup": true}',
        '{"numbers": ["' + "é" * 256 + '"]}',
        '{"numbers": ["' + "é" * 257 + '"]}',
        '{"numbers": ["5512345678"], "dedup": 1}',  # pydantic's lax bool: the contract decides
        '{"numbers": ["5512345678"], "dedup": "true"}',
        '{"numbers": [{"phone": "1", "whatsapp": 1}]}',
        '{"numbers": [{"phone": "1", "whatsapp": "true"}]}',
        '{"numbers": ["1"], "numbers": ["2"]}',
        '{"numbers": [null]}',
        '{"numbers": "5512345678"}',
        '["5512345678"]',
        '{"numbers": ["\\ud800"]}',
        "not json",
        "",
    ],
)
def test_the_fast_reader_reads_what_the_contract_reads(body: str) -> None:
    assert_reads_as_the_contract(body)


FLAG = st.one_of(st.booleans(), st.none(), st.integers(0, 1), st.sampled_from(["true", "x"]))
ITEM = st.one_of(
    st.text(max_size=8),
    st.just("5" * 257),
    st.fixed_dictionaries(
        {"phone": st.text(max_size=8)},
        optional={name: FLAG for name in (*PLATFORMS, "telegram")},
    ),
    st.fixed_dictionaries({}, optional={"whatsapp": FLAG}),
    st.integers(),
)


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries(
        {"numbers": st.lists(ITEM, max_size=4)},
        optional={"dedup": FLAG, "tenant": st.text(max_size=3)},
    )
)
def test_property_the_fast_reader_never_accepts_more_than_the_contract(
    body: dict[str, object],
) -> None:
    assert_reads_as_the_contract(json.dumps(body))


def test_validate_json_answers_a_body() -> None:
    body = '{"numbers": ["+52 1 55 1234 5678", {"phone": "5512345678", "google": true}], '
    body += '"dedup": true}'
    answer = json.loads(BulkValidator(workers=1).validate_json(body))
    assert [item["duplicate_of"] for item in answer["items"]] == [None, 0]
    assert answer["items"][1]["presence"] == {"google": True}
    with pytest.raises(ValidationError):
        BulkValidator(workers=1).validate_json('{"numbers": []}')


def test_the_pool_json_answer_is_the_objects_encoding_byte_for_byte() -> None:
    numbers = mixed_batch(400, seed=11)
    numbers += numbers[:50]  # repeats for dedup
    items = [
        {"phone": raw, "whatsapp": True} if i % 4 == 0 else raw for i, raw in enumerate(numbers)
    ]
    with BulkValidator(workers=2, inline_below=1) as pooled:
        for dedup in (True, False):
            body = json.dumps({"numbers": items, "dedup": dedup})
            expected = BulkValidator(workers=1).validate(read_bulk_request(body)).to_json()
            assert pooled.validate_json(body) == expected
            assert pooled.validate(read_bulk_request(body)).to_json() == expected


def test_a_dead_worker_fails_the_batch_and_the_next_batch_gets_a_new_pool() -> None:
    batch = mixed_batch(60)
    with BulkValidator(workers=2, inline_below=1).start() as validator:
        pool = validator._pool
        assert pool is not None
        victim = pool.pids()[0]
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="worker died"):
            validator.check(batch)
        assert validator.check(batch) == check_many(batch)
        assert validator._pool is not pool and victim not in validator._pool.pids()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["+52a", "+52b", "+52c"])), max_size=30))
def test_property_each_repeat_points_at_the_first_occurrence(e164s: list[str | None]) -> None:
    marks = mark_duplicates(e164s)
    assert len(marks) == len(e164s)
    for index, (e164, mark) in enumerate(zip(e164s, marks, strict=True)):
        first = e164s.index(e164) if e164 is not None else index
        assert mark == (first if first != index else None)
