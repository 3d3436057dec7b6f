"""Feature vector: seed semantics, target encoding, schema JSON, request path == frame path."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmas.pricing.model.features import (
    FEATURE_NAMES,
    FeatureEncoder,
    FeatureSchema,
    fit_feature_schema,
)
from ssmas.pricing.model.frame_columns import FeatureError
from ssmas.pricing.schemas import AD_FORMATS, DEVICE_CATEGORIES, INVENTORY_TYPES, PredictRequest

BIDDERS = ["appnexus", "criteo", "index", "pubmatic", "rubicon"]
CHANNELS = ["openrtb", "pmp"]
DOMAINS = ["elpais.es", "marca.com", "as.com", "20minutos.es"]
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def training_frame(n: int = 4000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "hour_of_day": rng.integers(0, 24, n),
            "day_of_week": rng.integers(1, 8, n),
            "country_tier": rng.integers(1, 4, n),
            "device_category": rng.choice(DEVICE_CATEGORIES, n),
            "format": rng.choice(AD_FORMATS, n),
            "inventory_type": rng.choice(INVENTORY_TYPES, n),
            "bidder": rng.choice(BIDDERS, n),
            "demand_channel": rng.choice(CHANNELS, n),
            "domain": rng.choice(DOMAINS, n, p=[0.5, 0.3, 0.19, 0.01]),
            "user_engagement_score": rng.random(n),
            "device_performance_score": rng.random(n) * 200,
            "historical_ctr_avg": rng.random(n) * 0.05,
        }
    )
    target = rng.gamma(2.0, 1.0, n) + (frame["domain"] == "elpais.es").to_numpy() * 2.0
    return frame, target


@pytest.fixture(scope="module")
def schema() -> FeatureSchema:
    frame, target = training_frame()
    return fit_feature_schema(frame, target)


@pytest.fixture(scope="module")
def encoder(schema: FeatureSchema) -> FeatureEncoder:
    return FeatureEncoder(schema)


def request(**overrides: object) -> PredictRequest:
    fields: dict[str, object] = {
        "impression_id": "imp-1",
        "hour_of_day": 20,
        "day_of_week": 6,
        "country_tier": 1,
        "device_category": "tablet",
        "format": "video",
        "inventory_type": "premium",
    }
    fields.update(overrides)
    return PredictRequest.model_validate(fields)


def test_seed_derived_features(encoder: FeatureEncoder) -> None:
    v = encoder.encode_request(request())
    assert v.dtype == np.float32 and v.shape == (len(FEATURE_NAMES),)
    assert v[COL["is_weekend"]] == 1  # ISO 6 = Saturday
    assert v[COL["is_prime_time"]] == 1  # 19-23 h
    assert v[COL["hour_category"]] == 3  # evening
    assert v[COL["is_eu"]] == 1  # seed: tier 1
    assert v[COL["device_category_encoded"]] == 2  # tablet
    weekday_morning = encoder.encode_request(request(hour_of_day=7, day_of_week=5, country_tier=2))
    assert weekday_morning[COL["is_weekend"]] == 0
    assert weekday_morning[COL["is_prime_time"]] == 0
    assert weekday_morning[COL["hour_category"]] == 1
    assert weekday_morning[COL["is_eu"]] == 0
    night = encoder.encode_request(request(hour_of_day=5))
    assert night[COL["hour_category"]] == 0
    assert encoder.encode_request(request(hour_of_day=19))[COL["is_prime_time"]] == 1
    assert encoder.encode_request(request(hour_of_day=18))[COL["is_prime_time"]] == 0


def test_absent_scores_take_seed_defaults_and_unknowns_are_missing(
    encoder: FeatureEncoder, schema: FeatureSchema
) -> None:
    v = encoder.encode_request(request(bidder="never-seen"))
    assert v[COL["user_engagement_score"]] == np.float32(0.5)
    assert v[COL["device_performance_score"]] == np.float32(100.0)
    assert v[COL["historical_ctr_avg"]] == np.float32(0.02)
    assert math.isnan(v[COL["bidder"]])
    assert math.isnan(v[COL["demand_channel"]])
    assert v[COL["domain_cpm_te"]] == np.float32(schema.domain_encoding.prior)
    assert v[COL["domain_log_count"]] == 0
    known = encoder.encode_request(request(bidder="criteo", format="banner"))
    assert known[COL["bidder"]] == BIDDERS.index("criteo")
    assert known[COL["format"]] == AD_FORMATS.index("banner")


def test_domain_target_encoding_is_smoothed_mean_of_training_rows() -> None:
    frame = pd.DataFrame(
        {
            "hour_of_day": [1, 2, 3, 4, 5],
            "day_of_week": [1, 1, 1, 1, 1],
            "country_tier": [1, 1, 1, 1, 1],
            "device_category": ["mobile"] * 5,
            "format": ["banner"] * 5,
            "inventory_type": ["standard"] * 5,
            "domain": ["A.es", "a.es ", "b.es", "b.es", None],
        }
    )
    target = np.array([4.0, 2.0, 1.0, np.nan, 3.0])  # NaN (unfilled) counts for nothing
    schema = fit_feature_schema(frame, target, smoothing=2.0)
    te = schema.domain_encoding
    assert te.prior == pytest.approx(2.5)
    assert te.counts == {"a.es": 2, "b.es": 1}
    assert te.values["a.es"] == pytest.approx((6.0 + 2 * 2.5) / (2 + 2))
    assert te.values["b.es"] == pytest.approx((1.0 + 2 * 2.5) / (1 + 2))
    enc = FeatureEncoder(schema)
    assert enc.domain_count("A.ES") == 2
    assert enc.domain_count(None) == 0
    row = enc.encode_request(request(domain=" A.es"))
    assert row[COL["domain_cpm_te"]] == np.float32(te.values["a.es"])
    assert row[COL["domain_log_count"]] == np.float32(math.log1p(2))
    np.testing.assert_array_equal(enc.domain_counts(frame), [2, 2, 1, 1, 0])


def test_schema_round_trips_through_json_and_refuses_other_versions(schema: FeatureSchema) -> None:
    restored = FeatureSchema.model_validate_json(schema.model_dump_json())
    assert restored == schema
    assert set(restored.baselines) == set(FEATURE_NAMES)
    assert restored.vocabularies["bidder"] == BIDDERS
    bad = schema.model_dump(mode="json") | {"version": 2}
    with pytest.raises(ValueError, match="version 2 is not supported"):
        FeatureSchema.model_validate(bad)
    shuffled = schema.model_dump(mode="json")
    shuffled["feature_names"] = list(reversed(shuffled["feature_names"]))
    with pytest.raises(ValueError, match="feature_names"):
        FeatureSchema.model_validate(shuffled)


def test_vocabulary_keeps_the_most_frequent_categories() -> None:
    frame, target = training_frame(n=2000)
    schema = fit_feature_schema(frame, target, max_vocabulary=2)
    counts = frame["bidder"].value_counts()
    assert schema.vocabularies["bidder"] == sorted(counts.index[:2])


def test_frame_path_accepts_pandas_arrow_categorical_and_mappings(
    encoder: FeatureEncoder,
) -> None:
    frame, _ = training_frame(n=500, seed=7)
    expected = encoder.encode_frame(frame)
    assert expected.shape == (500, len(FEATURE_NAMES)) and expected.dtype == np.float32
    as_categories = frame.astype({c: "category" for c in ["bidder", "domain", "format"]})
    variants = [
        pa.Table.from_pandas(frame),
        pa.Table.from_pandas(frame).combine_chunks(),
        as_categories,
        pa.Table.from_pandas(as_categories),
        {name: frame[name].to_numpy() for name in frame.columns},
        frame.astype({"domain": "string[pyarrow]", "bidder": "string"}),
    ]
    for variant in variants:
        np.testing.assert_array_equal(encoder.encode_frame(variant), expected)


def test_frame_path_fills_missing_optional_columns_and_nulls(encoder: FeatureEncoder) -> None:
    frame = pd.DataFrame(
        {
            "hour_of_day": [20, 3],
            "day_of_week": [6, 2],
            "country_tier": [1, 3],
            "device_category": ["tablet", "desktop"],
            "format": ["video", "native"],
            "inventory_type": ["premium", "remnant"],
            "user_engagement_score": [np.nan, 0.25],
        }
    )
    out = encoder.encode_frame(frame)
    reqs = [
        request(),
        request(
            hour_of_day=3,
            day_of_week=2,
            country_tier=3,
            device_category="desktop",
            format="native",
            inventory_type="remnant",
            user_engagement_score=0.25,
        ),
    ]
    np.testing.assert_array_equal(out, encoder.encode_requests(reqs))
    as_lists: dict[str, list[object]] = {name: frame[name].tolist() for name in frame.columns}
    as_lists["user_engagement_score"] = [None, 0.25]
    np.testing.assert_array_equal(encoder.encode_frame(as_lists), out)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("hour_of_day", [24], "hour_of_day must be between 0 and 23"),
        ("day_of_week", [0], "day_of_week must be between 1 and 7"),
        ("country_tier", [4], "country_tier must be between 1 and 3"),
        ("hour_of_day", [1.5], "whole numbers"),
        ("device_category", ["phone"], "device_category has values outside"),
        ("format", [None], "format has values outside"),
    ],
)
def test_frame_path_rejects_values_the_api_would_reject(
    encoder: FeatureEncoder, column: str, values: list[object], message: str
) -> None:
    frame = {
        "hour_of_day": [1],
        "day_of_week": [1],
        "country_tier": [1],
        "device_category": ["mobile"],
        "format": ["banner"],
        "inventory_type": ["standard"],
        column: values,
    }
    with pytest.raises(FeatureError, match=message):
        encoder.encode_frame(frame)


def test_frame_path_reports_a_missing_required_column(encoder: FeatureEncoder) -> None:
    with pytest.raises(FeatureError, match="missing required column: country_tier"):
        encoder.encode_frame({"hour_of_day": [1], "day_of_week": [1]})


def test_fit_refuses_a_target_of_the_wrong_length() -> None:
    frame, target = training_frame(n=100)
    with pytest.raises(FeatureError, match="target has 99 values for 100 rows"):
        fit_feature_schema(frame, target[:99])


optional_label = st.one_of(st.none(), st.sampled_from([*BIDDERS, "unseen-bidder"]))
requests = st.builds(
    PredictRequest,
    impression_id=st.text(min_size=1, max_size=12),
    hour_of_day=st.integers(0, 23),
    day_of_week=st.integers(1, 7),
    country_tier=st.integers(1, 3),
    device_category=st.sampled_from(DEVICE_CATEGORIES),
    format=st.sampled_from(AD_FORMATS),
    inventory_type=st.sampled_from(INVENTORY_TYPES),
    bidder=optional_label,
    demand_channel=st.one_of(st.none(), st.sampled_from([*CHANNELS, "direct"])),
    domain=st.one_of(st.none(), st.sampled_from([*DOMAINS, " Marca.COM ", "new.es"])),
    user_engagement_score=st.one_of(st.none(), st.floats(0, 1)),
    device_performance_score=st.one_of(st.none(), st.floats(0, 1e6)),
    historical_ctr_avg=st.one_of(st.none(), st.floats(0, 1)),
)


@settings(max_examples=150, deadline=None)
@given(batch=st.lists(requests, min_size=1, max_size=20))
def test_request_path_and_frame_path_give_the_same_vector(
    encoder: FeatureEncoder, batch: list[PredictRequest]
) -> None:
    frame = pd.DataFrame([r.model_dump() for r in batch])
    from_frame = encoder.encode_frame(frame)
    from_arrow = encoder.encode_frame(pa.Table.from_pandas(frame))
    np.testing.assert_array_equal(encoder.encode_requests(batch), from_frame)
    np.testing.assert_array_equal(from_arrow, from_frame)
    for i, r in enumerate(batch):
        np.testing.assert_array_equal(encoder.encode_request(r), from_frame[i])


def test_median_imputation_follows_the_training_scale() -> None:
    frame, target = training_frame(n=1000)
    frame["device_performance_score"] = np.linspace(0.0, 1.0, 1000)  # a 0-1 scale, not 0-100
    frame.loc[:9, "device_performance_score"] = np.nan
    schema = fit_feature_schema(frame, target, impute="median")
    median = float(np.nanmedian(frame["device_performance_score"]))
    assert schema.defaults["device_performance_score"] == pytest.approx(median)
    assert schema.defaults["user_engagement_score"] == pytest.approx(
        float(frame["user_engagement_score"].median())
    )
    enc = FeatureEncoder(schema)
    row = enc.encode_request(request())
    assert row[COL["device_performance_score"]] == np.float32(median)
    assert enc.encode_frame(frame)[0, COL["device_performance_score"]] == np.float32(median)
    assert fit_feature_schema(frame, target).defaults["device_performance_score"] == 100.0
