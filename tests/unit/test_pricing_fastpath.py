"""The hot path's shortcuts give exactly what the reference paths give.

``msgspec`` decoding never accepts a body the pydantic contract refuses (and reads the same
values when both accept); the columnar batch encoder is bit-identical to the per-request one;
the scalar interval of one row equals the model's vectorised interval; a batch earns the inline
path like a single request does, and a hung model still gets the fallback.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmas.pricing.api import FLOOR, FLOOR_BATCH, PREDICT, PREDICT_BATCH, PREDICT_ROWS
from ssmas.pricing.model.bundle import spread_of
from ssmas.pricing.schemas import FloorRequest, PredictRequest
from ssmas.pricing.serving.fast_requests import FAST_PREDICT, FastFloor, FastPredict, as_dict
from ssmas.pricing.serving.request_bodies import BodyRejected, JsonBody
from ssmas.pricing.serving.row_scorer import build_row_scorer
from ssmas.pricing.serving.service import PricingService
from ssmas.settings import PricingSettings
from tests.pricing_serving_support import (
    BlockingScorer,
    frame_requests,
    request_body,
    small_model,
    synthetic_frame,
)

GOOD = request_body()
# Values for each field: valid ones, and ones the contract refuses or pydantic coerces.
VALUES: dict[str, list[Any]] = {
    "impression_id": ["a", "x" * 128, "x" * 129, "", 5, None, "é\u00e9", "a\u0000b"],
    "hour_of_day": [0, 23, 24, -1, 5.0, 5.5, "5", True, None, 10**30],
    "day_of_week": [1, 7, 0, 8, 3.0],
    "country_tier": [1, 3, 0, 4, False],
    "device_category": ["mobile", "tablet", "desktop", "phone", "Mobile", None, 1],
    "format": ["banner", "video", "native", "interstitial", "audio"],
    "inventory_type": ["premium", "standard", "remnant", "gold"],
    "bidder": [None, "b", "b" * 64, "b" * 65, "", 3],
    "demand_channel": [None, "open", ""],
    "domain": [None, "site3.example", " Site3.EXAMPLE ", "", "d" * 253, "d" * 254],
    "user_engagement_score": [None, 0, 1, 0.5, 1.5, -0.1, "0.5", True, 1e308],
    "device_performance_score": [None, 0, 100.0, 1e300, -3, "7", False],
    "historical_ctr_avg": [None, 0.02, 1, 2, -0.0],
}
FLOOR_VALUES: dict[str, list[Any]] = {
    "publisher_id": [None, "p1", "", "p" * 65, 7],
    "data_points": [None, 0, 12, -1, 1.5, "3", True],
}


def verdict(body: JsonBody[Any], raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", as_dict(body.parse(raw))
    except BodyRejected as rejected:
        return "refused", (rejected.status, rejected.message)


def reference(adapter: Any, raw: bytes) -> tuple[str, Any]:
    """What the pydantic contract alone answers."""
    try:
        value = adapter.validate_json(raw)
    except ValueError:
        return "refused", None
    return "ok", as_dict(value)


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, vs in VALUES.items() for v in vs])
def test_fast_single_agrees_with_the_contract_field_by_field(field: str, value: Any) -> None:
    raw = json.dumps({**GOOD, field: value}).encode()
    fast = verdict(PREDICT, raw)
    expected = reference(PREDICT.adapter, raw)
    assert fast[0] == expected[0], (field, value, fast)
    if expected[0] == "ok":
        assert fast[1] == expected[1]


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, vs in FLOOR_VALUES.items() for v in vs])
def test_fast_floor_agrees_with_the_contract(field: str, value: Any) -> None:
    raw = json.dumps({**GOOD, field: value}).encode()
    fast = verdict(FLOOR, raw)
    assert fast[0] == reference(FLOOR.adapter, raw)[0], (field, value, fast)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'{"impression_id": "a"}',
        b"NaN",
        json.dumps({**GOOD, "user_engagement_score": float("nan")}).encode(),
        json.dumps({**GOOD, "device_performance_score": float("inf")}).encode(),
        json.dumps({**GOOD, "hour_of_day": 24, "hour_of_day ": 1}).encode(),
        json.dumps(GOOD).encode().replace(b'"imp-1"', b'"\\ud800"'),
        b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),
        json.dumps(GOOD).encode() + b" trailing",
        json.dumps({**GOOD, "extra": 1}).encode(),
    ],
)
def test_odd_bodies_get_the_contract_answer(raw: bytes) -> None:
    expected = reference(PREDICT.adapter, raw)
    try:
        got = "ok", as_dict(PREDICT.parse(raw))
    except BodyRejected:
        got = "refused", None
    assert got[0] == expected[0]


def test_refusals_are_worded_by_the_contract() -> None:
    with pytest.raises(BodyRejected) as caught:
        PREDICT.parse(json.dumps({**GOOD, "hour_of_day": 24}).encode())
    assert caught.value.status == 422
    assert caught.value.message == "hour_of_day must be between 0 and 23 (got 24)"
    rows = [GOOD, {**GOOD, "country_tier": 4}]
    with pytest.raises(BodyRejected) as caught:
        PREDICT_BATCH.parse(json.dumps(rows).encode())
    assert caught.value.details[0].field == "[1].country_tier"
    with pytest.raises(BodyRejected, match="batch size cannot exceed 1000"):
        PREDICT_BATCH.parse(json.dumps([GOOD] * 1001).encode())


def test_what_only_pydantic_accepts_is_served_as_pydantic_reads_it() -> None:
    raw = json.dumps({**GOOD, "user_engagement_score": "0.25"}).encode()
    with pytest.raises(Exception):  # noqa: B017 - msgspec refuses a string for a number
        FAST_PREDICT.decode(raw)
    before = PREDICT.refused
    request = PREDICT.parse(raw)
    assert isinstance(request, PredictRequest)
    assert request.user_engagement_score == 0.25
    assert PREDICT.refused == before + 1


def test_valid_bodies_take_the_fast_path() -> None:
    assert isinstance(PREDICT.parse(json.dumps(GOOD).encode()), FastPredict)
    assert isinstance(FLOOR.parse(json.dumps({**GOOD, "data_points": 3}).encode()), FastFloor)
    batch = FLOOR_BATCH.parse(json.dumps([GOOD, GOOD]).encode())
    assert [type(r) for r in batch] == [FastFloor, FastFloor]


any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 30),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=4),
    st.sampled_from(["mobile", "banner", "premium", "site3.example"]),
)


@settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from([*VALUES, *FLOOR_VALUES, "surprise"]), any_value, max_size=4
    ),
    dropped=st.sets(st.sampled_from(list(GOOD)), max_size=2),
)
def test_fast_decoding_never_accepts_what_the_contract_refuses(
    changes: dict[str, Any], dropped: set[str]
) -> None:
    body = {k: v for k, v in {**GOOD, **changes}.items() if k not in dropped}
    raw = json.dumps(body).encode()
    for reader, model in ((PREDICT, PredictRequest), (FLOOR, FloorRequest)):
        expected = reference(reader.adapter, raw)
        got = verdict(reader, raw)
        assert got[0] == expected[0], (body, got)
        if got[0] == "ok":
            assert got[1] == expected[1]
            assert as_dict(model.model_validate_json(raw)) == got[1]


def test_as_dict_equals_the_models_json_dump() -> None:
    for body in frame_requests(synthetic_frame(50), 50):
        pydantic_request = FloorRequest.model_validate({**body, "publisher_id": "p"})
        fast = FLOOR.parse(json.dumps({**body, "publisher_id": "p"}).encode())
        dumped = pydantic_request.model_dump(mode="json", exclude_none=True)
        assert as_dict(fast) == dumped == as_dict(pydantic_request)


def test_columnar_encoding_is_bit_identical_to_the_request_path() -> None:
    model = small_model()
    bodies = frame_requests(synthetic_frame(300, seed=4), 300)
    bodies[0] = {**bodies[0], "domain": " SITE3.example "}
    bodies[1] = {**bodies[1], "domain": "unknown.example", "bidder": "nobody"}
    bodies[2] = {k: v for k, v in bodies[2].items() if not k.endswith("score")}
    fast = PREDICT_BATCH.parse(json.dumps(bodies).encode())
    slow = [PredictRequest.model_validate(b) for b in bodies]
    reference_matrix = model.encoder.encode_requests(slow)
    matrix, history = model.encoder.encode_batch(fast)
    np.testing.assert_array_equal(matrix, reference_matrix)
    np.testing.assert_array_equal(model.encoder.encode_records(slow), reference_matrix)
    assert history.tolist() == [model.encoder.domain_count(r.domain) for r in slow]
    empty, counts = model.encoder.encode_batch([])
    assert empty.shape == (0, model.encoder.n_features) and counts.size == 0


def test_one_row_interval_equals_the_vectorised_interval() -> None:
    model = small_model()
    scorer = build_row_scorer(model)
    assert scorer is not None
    bodies = frame_requests(synthetic_frame(200, seed=5), 200)
    for body in bodies:
        x = model.encoder.encode_request(PredictRequest.model_validate(body))
        point, lower, upper = scorer.predict_one(x)
        p = np.array([point])
        low, high = model.intervals.predict_interval(p, spread=spread_of(p))
        assert (lower, upper) == (float(low[0]), float(high[0]))
        reference_point = float(model.predict_matrix(x.reshape(1, -1))[0][0])
        assert point == pytest.approx(reference_point, rel=1e-5, abs=1e-5)


def test_batches_earn_the_inline_path_and_a_hung_model_still_falls_back() -> None:
    service = PricingService(PricingSettings(batch_timeout_ms=100.0, challenger_enabled=False))
    model = small_model()
    service.install("champion", model)
    slot = service.slot("champion")
    assert slot is not None and slot.batch_guard is not None
    requests = [PredictRequest.model_validate(request_body(f"b{i}")) for i in range(30)]

    async def run() -> None:
        for _ in range(slot.batch_guard.probation):
            assert slot.batch_guard.mode == "guarded"
            await service.score_many(requests)
        assert slot.batch_guard.mode == "inline"
        priced = await service.score_many(requests)
        point, _low, _high = model.predict_requests(requests)
        np.testing.assert_allclose(priced.point, point)
        assert not priced.fallback.any()

        hung = BlockingScorer(model)
        service.install("champion", hung)  # a new model starts guarded again
        try:
            priced = await service.score_many(requests)
        finally:
            hung.release.set()
        assert priced.fallback.all()
        assert service.stats.fallback_reasons.get("timeout", 0) >= len(requests)

    asyncio.run(run())
    service.close()


def row_reference(rows: list[Any]) -> list[tuple[str, Any]]:
    """What pydantic alone answers for each row of a batch read row by row."""
    answers: list[tuple[str, Any]] = []
    for row in rows:
        try:
            answers.append(("ok", as_dict(PredictRequest.model_validate_json(json.dumps(row)))))
        except ValueError:
            answers.append(("refused", None))
    return answers


def row_verdicts(raw: bytes) -> list[tuple[str, Any]]:
    """What the lean row-by-row reader answers, row by row (a 400 refuses every row)."""
    try:
        batch = PREDICT_ROWS.parse(raw)
    except BodyRejected as rejected:
        assert rejected.status == 400 and rejected.errors is not None
        return [("refused", None)] * len(rejected.errors)
    positions = batch.positions or list(range(len(batch.rows)))
    answers: list[tuple[str, Any]] = [("refused", None)] * batch.size
    for i, row in zip(positions, batch.rows, strict=True):
        answers[i] = ("ok", as_dict(row))
    for error in batch.errors:
        assert answers[error.index] == ("refused", None)
    return answers


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.dictionaries(st.sampled_from([*VALUES, "surprise"]), any_value, max_size=3).map(
            lambda changes: {**GOOD, **changes}
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_batch_read_row_by_row_agrees_with_the_contract_per_row(
    rows: list[dict[str, Any]],
) -> None:
    raw = json.dumps(rows).encode()
    assert row_verdicts(raw) == row_reference(rows)


def test_row_errors_name_the_row_and_keep_the_valid_rows() -> None:
    rows: list[Any] = [GOOD, {**GOOD, "impression_id": "b", "country_tier": 4}, 7, GOOD]
    batch = PREDICT_ROWS.parse(json.dumps(rows).encode())
    assert batch.positions == [0, 3] and len(batch.rows) == 2
    bad, not_object = batch.errors
    assert (bad.index, bad.impression_id) == (1, "b")
    assert bad.error == "country_tier must be between 1 and 3 (got 4)"
    assert bad.details[0].field == "country_tier"
    assert (not_object.index, not_object.impression_id) == (2, None)
    with pytest.raises(BodyRejected) as caught:
        PREDICT_ROWS.parse(json.dumps([rows[1], rows[2]]).encode())
    assert caught.value.status == 400
    assert [d.field for d in caught.value.details] == ["[0].country_tier", "[1]"]
    assert [e.index for e in caught.value.errors or []] == [0, 1]
    for whole in ([GOOD] * 1001, [], {"not": "an array"}):
        with pytest.raises(BodyRejected) as caught:
            PREDICT_ROWS.parse(json.dumps(whole).encode())
        assert caught.value.status == 422 and caught.value.errors is None
    lenient = PREDICT_ROWS.parse(json.dumps([{**GOOD, "user_engagement_score": "0.5"}]).encode())
    assert lenient.positions is None and not lenient.errors
