"""The scorer service: variants, the timeout and its fallback, the circuit breaker, bookkeeping."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import orjson
import pytest

from ssmas.pricing.schemas import PredictRequest
from ssmas.pricing.serving.responses import batch_json, prediction_body
from ssmas.pricing.serving.scoring_guard import ScoringGuard
from ssmas.pricing.serving.service import PricingService
from ssmas.pricing.variants import VariantSplit
from ssmas.settings import PricingSettings
from tests.pricing_serving_support import BlockingScorer, BrokenScorer, request_body, small_model


def req(impression_id: str = "imp-1", **overrides: Any) -> PredictRequest:
    return PredictRequest.model_validate(request_body(impression_id, **overrides))


def service(**config: Any) -> PricingService:
    return PricingService(PricingSettings(load_models=False, **config))


def test_no_model_answers_the_static_fallback() -> None:
    svc = service(fallback_cpm=1.75)
    scored = asyncio.run(svc.score_one(req()))
    assert scored.fallback and scored.reason == "no_model"
    assert scored.point == 1.75 and scored.lower < 1.75 < scored.upper
    assert scored.version == "none"
    assert svc.stats.fallback_reasons == {"no_model": 1}


def test_model_prices_like_its_own_predict_matrix() -> None:
    model = small_model()
    svc = service()
    svc.install("champion", model)
    request = req(domain="site7.example")
    scored = asyncio.run(svc.score_one(request))
    point, lower, upper = model.predict_requests([request])
    assert not scored.fallback and scored.version == "1" and scored.variant == "champion"
    assert scored.point == pytest.approx(point[0], abs=1e-4)
    assert scored.lower == pytest.approx(lower[0], abs=1e-4)
    assert scored.upper == pytest.approx(upper[0], abs=1e-4)
    assert scored.data_points == model.encoder.domain_count("site7.example") > 0


def test_hung_model_gets_the_segment_mean_without_waiting_for_the_model() -> None:
    model = small_model()
    blocking = BlockingScorer(model)
    svc = service(timeout_ms=30)
    svc.install("champion", blocking)

    async def call() -> Any:
        return await svc.score_one(req(domain="site3.example"))

    scored = asyncio.run(call())
    assert not blocking.finished.is_set()  # the answer came while the model was still stuck
    blocking.release.set()
    assert scored.fallback and scored.reason == "timeout"
    assert scored.version == "9"  # the version that failed to answer, for the decision log
    encoding = model.schema.domain_encoding
    assert scored.point == pytest.approx(encoding.values["site3.example"])
    assert scored.data_points == encoding.counts["site3.example"]
    svc.close()


def test_after_a_timeout_the_circuit_opens_and_the_model_is_not_called() -> None:
    blocking = BlockingScorer(small_model())
    svc = service(timeout_ms=20)
    svc.install("champion", blocking)

    async def two_calls() -> tuple[Any, Any]:
        first = await svc.score_one(req("a"))
        second = await svc.score_one(req("b", domain="unknown.example"))
        return first, second

    first, second = asyncio.run(two_calls())
    blocking.release.set()
    assert first.reason == "timeout"
    assert second.reason == "circuit_open" and blocking.calls == 1
    prior = blocking.encoder.schema.domain_encoding.prior
    assert second.point == pytest.approx(prior)  # unknown domain: the training mean
    svc.close()


def test_a_raising_model_falls_back_with_reason_error() -> None:
    svc = service()
    svc.install("champion", BrokenScorer(small_model()))
    scored = asyncio.run(svc.score_one(req()))
    assert scored.fallback and scored.reason == "error"
    batch = asyncio.run(svc.score_many([req("x"), req("y")]))
    assert batch.fallback.all()


def test_injected_delay_makes_every_model_slow_for_drills() -> None:
    svc = service(injected_delay_ms=5_000, timeout_ms=20)
    svc.install("champion", small_model())
    slot = svc.slot("champion")
    assert slot is not None and slot.row is None  # no fast path around the delay
    scored = asyncio.run(svc.score_one(req()))
    assert scored.reason == "timeout"
    svc.close()


def test_variants_follow_the_sticky_split_and_serve_their_own_version() -> None:
    champion, challenger = small_model(0, "1"), small_model(1, "2")
    svc = service(challenger_share=0.5)
    svc.install("champion", champion)
    svc.install("challenger", challenger)
    requests = [req(f"imp-{i}") for i in range(60)]
    split = VariantSplit(challenger_share=0.5)
    singles = [asyncio.run(svc.score_one(r)) for r in requests]
    batch = asyncio.run(svc.score_many(requests))
    expected = [split.assign(r.impression_id) for r in requests]
    assert [s.variant for s in singles] == expected == batch.variant
    assert {"champion", "challenger"} == set(expected)
    for s, b_version, b_point in zip(singles, batch.version, batch.point, strict=True):
        assert s.version == ("2" if s.variant == "challenger" else "1") == b_version
        assert b_point == pytest.approx(s.point, abs=1e-4)


def test_without_a_challenger_everything_goes_to_the_champion() -> None:
    svc = service(challenger_share=0.9)
    svc.install("champion", small_model())
    batch = asyncio.run(svc.score_many([req(f"i{i}") for i in range(20)]))
    assert set(batch.variant) == {"champion"} and not batch.fallback.any()


def test_removing_a_model_returns_to_the_fallback() -> None:
    svc = service()
    svc.install("champion", small_model())
    svc.install("champion", None)
    assert asyncio.run(svc.score_one(req())).reason == "no_model"


def test_guard_earns_inline_then_drops_back_on_a_slow_call() -> None:
    guard = ScoringGuard(0.05, probation=3)
    assert guard.route() == "guarded"
    for _ in range(3):
        guard.succeeded(0.001)
    assert guard.route() == "inline"
    guard.succeeded(0.02)  # over a quarter of the timeout
    assert guard.route() == "guarded" and guard.fast_streak == 0
    guard.failed()
    assert guard.route() == "guarded"


def test_guard_opens_on_timeout_and_probes_once_per_interval() -> None:
    now = [100.0]
    guard = ScoringGuard(0.05, probation=2, probe_interval_s=1.0, clock=lambda: now[0])
    guard.timed_out()
    assert guard.route() == "open"
    now[0] += 1.0
    assert guard.route() == "guarded"  # the probe
    assert guard.route() == "open"  # only one per interval
    guard.succeeded(0.001)
    assert guard.mode == "guarded"
    guard.succeeded(0.001)
    assert guard.route() == "inline"


def test_service_runs_inline_once_the_model_proved_fast() -> None:
    svc = service()
    svc.install("champion", small_model())
    slot = svc.slot("champion")
    assert slot is not None and slot.guard.mode == "guarded"

    async def many() -> None:
        for i in range(slot.guard.probation + 1):
            await svc.score_one(req(f"p{i}"))

    asyncio.run(many())
    assert slot.guard.mode == "inline"


def test_stats_count_per_variant_and_match_outcomes() -> None:
    svc = service()
    svc.install("champion", small_model())
    request = req("won")
    scored = asyncio.run(svc.score_one(request))
    svc.record([request], [scored], 0.002)
    known = svc.stats.recall("won")
    assert known == ("champion", "1", scored.point)
    svc.stats.outcome("champion", scored.point, scored.point + 0.5, 0.002)
    svc.stats.outcome(None, None, None, 0.0)
    summary = svc.stats.as_dict()["variants"]["champion"]
    assert summary["requests"] == 1 and summary["filled"] == 1
    assert summary["mae_eur"] == pytest.approx(0.5)
    assert summary["latency_ms"]["p50"] == pytest.approx(2.0)


def test_recent_predictions_forget_the_oldest_first() -> None:
    svc = service(recent_predictions=3)
    for i in range(5):
        svc.stats.remember(f"id{i}", "champion", "1", float(i))
    assert svc.stats.recall("id0") is None and svc.stats.recall("id1") is None
    assert svc.stats.recall("id4") == ("champion", "1", 4.0)


def test_batch_json_equals_single_bodies() -> None:
    svc = service()
    svc.install("champion", small_model())
    requests = [req(f"b{i}", hour_of_day=i) for i in range(5)]
    priced = asyncio.run(svc.score_many(requests))
    priced.fallback[3] = True
    bodies = orjson.loads(batch_json(requests, priced, "T", 1.5))
    singles = [
        prediction_body(r.impression_id, priced.row(i), "T", 1.5) for i, r in enumerate(requests)
    ]
    assert bodies == singles
    assert [list(b) for b in bodies] == [list(s) for s in singles]  # same field order
    assert [b["fallback"] for b in bodies] == [False, False, False, True, False]
    assert [b["impression_id"] for b in bodies] == [f"b{i}" for i in range(5)]


def test_batch_json_rounds_exact_halves_as_the_single_answer_does() -> None:
    svc = service()
    svc.install("champion", small_model())
    requests = [req(f"h{i}") for i in range(200)]
    priced = asyncio.run(svc.score_many(requests))
    # x 10^4 on or within a rounding error of a half: where numpy's round and Python's part.
    priced.point[:] = np.arange(200) * 1e-4 + 5e-5
    priced.lower[:] = priced.point * 100.0
    priced.upper[:] = priced.point + 1e6
    bodies = orjson.loads(batch_json(requests, priced, "T", 1.5))
    singles = [
        prediction_body(r.impression_id, priced.row(i), "T", 1.5) for i, r in enumerate(requests)
    ]
    assert bodies == singles
    assert [b["predicted_cpm"] for b in bodies] != np.round(priced.point, 4).tolist()
