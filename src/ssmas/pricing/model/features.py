"""The model's feature vector, built the same way for a request and for a frame of lake rows.

A :class:`FeatureSchema` (versioned JSON, stored with every model) holds the ordered feature
names, the categorical vocabularies, the domain target encoding fitted on training rows only and
the training baselines for drift. A :class:`FeatureEncoder` compiled from it has a fast path for
one request (lookup dicts, one float32 row) and a vectorised path for frames (pandas, pyarrow or a
mapping of columns); tests hold the two paths to the same vector. Unknown categories become NaN
(XGBoost's missing value); absent scores take the schema's defaults (the seed's 0.5, 100.0 and
0.02 unless fitted with training medians).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ssmas.pricing.lifecycle.drift import FeatureBaseline, FeatureKind, build_baseline
from ssmas.pricing.lifecycle.price_level import PriceLevels, build_price_levels
from ssmas.pricing.model.frame_columns import (
    FeatureError,
    FrameLike,
    category_codes,
    frame_length,
    int_column,
    numeric_column,
    optional_column,
    take_rows,
)
from ssmas.pricing.schemas import AD_FORMATS, INVENTORY_TYPES, Impression

FEATURE_VERSION = 1
FEATURE_NAMES: tuple[str, ...] = (
    "hour_of_day",
    "day_of_week",
    "is_weekend",
    "is_prime_time",
    "hour_category",
    "country_tier",
    "is_eu",
    "device_category_encoded",
    "format",
    "inventory_type",
    "bidder",
    "demand_channel",
    "domain_cpm_te",
    "domain_log_count",
    "user_engagement_score",
    "device_performance_score",
    "historical_ctr_avg",
)
CATEGORICAL_FEATURES = frozenset(
    {"hour_category", "format", "inventory_type", "bidder", "demand_channel"}
)
LEARNED_VOCABULARIES = ("bidder", "demand_channel")
# Calendar features: drift compares them with the same weekdays / hours of training only.
CYCLIC_FEATURES = frozenset(
    {"hour_of_day", "day_of_week", "is_weekend", "is_prime_time", "hour_category"}
)
FloatMatrix = npt.NDArray[np.float32]

# Calendar tables indexed by hour (0-23), ISO day (1-7) and tier (1-3): both paths read them.
HOUR_CATEGORIES = ("night", "morning", "afternoon", "evening")
HOUR_CATEGORY_BY_HOUR = np.array([0] * 6 + [1] * 6 + [2] * 6 + [3] * 6, dtype=np.int64)
PRIME_TIME_BY_HOUR = np.array([0] * 19 + [1] * 5, dtype=np.int64)
WEEKEND_BY_DAY = np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=np.int64)
EU_BY_TIER = np.array([0, 1, 0, 0], dtype=np.int64)  # seed: is_eu = (country_tier == 1)
DEVICE_CODES: dict[str, float] = {"mobile": 1.0, "tablet": 2.0, "desktop": 3.0}
SEED_DEFAULTS: dict[str, float] = {
    "user_engagement_score": 0.5,
    "device_performance_score": 100.0,
    "historical_ctr_avg": 0.02,
}
NAN = float("nan")


class TargetEncoding(BaseModel):
    """Smoothed per-domain mean of the target: ``(sum + m * prior) / (count + m)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = "clearing_cpm"
    prior: float
    smoothing: float = Field(ge=0.0)
    values: dict[str, float] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)


class FeatureSchema(BaseModel):
    """Everything needed to rebuild the feature matrix exactly as the model saw it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = FEATURE_VERSION
    feature_names: list[str] = Field(default_factory=lambda: list(FEATURE_NAMES))
    feature_types: list[Literal["q", "c"]] = Field(
        default_factory=lambda: ["c" if n in CATEGORICAL_FEATURES else "q" for n in FEATURE_NAMES]
    )
    vocabularies: dict[str, list[str]] = Field(default_factory=dict)
    domain_encoding: TargetEncoding = Field(
        default_factory=lambda: TargetEncoding(prior=0.0, smoothing=20.0)
    )
    defaults: dict[str, float] = Field(default_factory=lambda: dict(SEED_DEFAULTS))
    baselines: dict[str, FeatureBaseline] = Field(default_factory=dict)
    label_baseline: FeatureBaseline | None = None
    # The label's medians by weekday / hour (None in schemas saved before it existed).
    label_levels: PriceLevels | None = None
    training_rows: int = Field(default=0, ge=0)

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != FEATURE_VERSION:
            raise ValueError(f"feature schema version {version} is not supported (code is v1)")
        return version

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSchema:
        if tuple(self.feature_names) != FEATURE_NAMES:
            raise ValueError("feature_names do not match the v1 feature list")
        if len(self.feature_types) != len(self.feature_names):
            raise ValueError("feature_types must have one entry per feature")
        if set(self.defaults) != set(SEED_DEFAULTS):
            raise ValueError(f"defaults must give exactly: {', '.join(sorted(SEED_DEFAULTS))}")
        return self

    def kinds(self) -> dict[str, FeatureKind]:
        """Drift treatment of each feature: categorical codes or ordered numbers."""
        return {
            n: ("categorical" if n in CATEGORICAL_FEATURES else "numeric")
            for n in self.feature_names
        }


def vocabulary(schema: FeatureSchema, column: str) -> tuple[str, ...]:
    """The category list of ``column`` (its position is its code)."""
    fixed = {"format": AD_FORMATS, "inventory_type": INVENTORY_TYPES}
    return fixed.get(column) or tuple(schema.vocabularies.get(column, ()))


def normalise_domain(domain: str) -> str:
    """Domains are matched case-insensitively, surrounding blanks ignored."""
    return domain.strip().lower()


class FeatureEncoder:
    """Turns requests or frames into the float32 matrix of a :class:`FeatureSchema`."""

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema
        self.n_features = len(schema.feature_names)
        # Keyed by str | None so that an absent label looks up to NaN like an unknown one.
        self._codes: dict[str, dict[str | None, float]] = {
            col: {v: float(i) for i, v in enumerate(vocabulary(schema, col))}
            for col in ("format", "inventory_type", *LEARNED_VOCABULARIES)
        }
        te = schema.domain_encoding
        self._domain_missing = (te.prior, 0.0)
        self._eng, self._perf, self._ctr = (schema.defaults[k] for k in SEED_DEFAULTS)
        self._domain = {d: (v, float(np.log1p(te.counts.get(d, 0)))) for d, v in te.values.items()}
        self._counts = te.counts
        # Domain -> (target encoding, log count, count): one lookup per request in a batch. Keys
        # are normalised, so a domain sent normalised (the usual case) is found as it is.
        self._domain_rows = {
            d: (*pair, te.counts.get(d, 0))
            for d, pair in self._domain.items()
            if normalise_domain(d) == d
        }
        self._domain_row_missing = (*self._domain_missing, 0)
        self._hour_cat = HOUR_CATEGORY_BY_HOUR.astype(float).tolist()
        self._prime = PRIME_TIME_BY_HOUR.astype(float).tolist()
        self._weekend = WEEKEND_BY_DAY.astype(float).tolist()
        self._eu = EU_BY_TIER.astype(float).tolist()

    # -- one request ------------------------------------------------------------------------
    def row(self, r: Impression) -> list[float]:
        """The feature values of one request, as Python floats in schema order."""
        h, d, t = r.hour_of_day, r.day_of_week, r.country_tier
        codes = self._codes
        te, log_count = (
            self._domain.get(normalise_domain(r.domain), self._domain_missing)
            if r.domain is not None
            else self._domain_missing
        )
        eng, perf, ctr = r.user_engagement_score, r.device_performance_score, r.historical_ctr_avg
        return [
            h,
            d,
            self._weekend[d],
            self._prime[h],
            self._hour_cat[h],
            t,
            self._eu[t],
            DEVICE_CODES[r.device_category],
            codes["format"].get(r.format, NAN),
            codes["inventory_type"].get(r.inventory_type, NAN),
            codes["bidder"].get(r.bidder, NAN),
            codes["demand_channel"].get(r.demand_channel, NAN),
            te,
            log_count,
            self._eng if eng is None else eng,
            self._perf if perf is None else perf,
            self._ctr if ctr is None else ctr,
        ]

    def encode_request(self, request: Impression) -> FloatMatrix:
        """One request as a float32 vector of ``n_features`` values (the serving fast path)."""
        return np.array(self.row(request), dtype=np.float32)

    def encode_requests(self, requests: Sequence[Impression]) -> FloatMatrix:
        """Several requests as a ``(len, n_features)`` float32 matrix, row by row."""
        if not requests:
            return np.empty((0, self.n_features), dtype=np.float32)
        flat = chain.from_iterable(self.row(r) for r in requests)
        values = np.fromiter(flat, dtype=np.float32, count=len(requests) * self.n_features)
        return values.reshape(len(requests), self.n_features)

    def encode_records(self, requests: Sequence[Impression]) -> FloatMatrix:
        """:meth:`encode_requests` column by column (the batch fast path, identical values).

        One list comprehension per feature over the validated requests and table lookups for
        the calendar features; like :meth:`encode_frame` the result is column-major.
        """
        return self.encode_batch(requests)[0]

    def encode_batch(
        self, requests: Sequence[Impression]
    ) -> tuple[FloatMatrix, npt.NDArray[np.int64]]:
        """:meth:`encode_records` and the :meth:`domain_count` of each request, in one pass."""
        n = len(requests)
        out = np.empty((self.n_features, n), dtype=np.float32)
        if not n:
            return out.T, np.zeros(0, dtype=np.int64)
        hour = np.array([r.hour_of_day for r in requests], dtype=np.intp)
        day = np.array([r.day_of_week for r in requests], dtype=np.intp)
        tier = np.array([r.country_tier for r in requests], dtype=np.intp)
        codes = self._codes
        fmt, inv = codes["format"], codes["inventory_type"]
        bidder, channel = codes["bidder"], codes["demand_channel"]
        domains, missing = self._domain_rows, self._domain_row_missing
        found = [
            missing
            if (d := r.domain) is None
            else (domains.get(d) or domains.get(normalise_domain(d), missing))
            for r in requests
        ]
        eng, perf, ctr = self._eng, self._perf, self._ctr
        out[0] = hour
        out[1] = day
        out[2] = WEEKEND_BY_DAY[day]
        out[3] = PRIME_TIME_BY_HOUR[hour]
        out[4] = HOUR_CATEGORY_BY_HOUR[hour]
        out[5] = tier
        out[6] = EU_BY_TIER[tier]
        out[7] = [DEVICE_CODES[r.device_category] for r in requests]
        out[8] = [fmt.get(r.format, NAN) for r in requests]
        out[9] = [inv.get(r.inventory_type, NAN) for r in requests]
        out[10] = [bidder.get(r.bidder, NAN) for r in requests]
        out[11] = [channel.get(r.demand_channel, NAN) for r in requests]
        out[12] = [f[0] for f in found]
        out[13] = [f[1] for f in found]
        out[14] = [eng if (v := r.user_engagement_score) is None else v for r in requests]
        out[15] = [perf if (v := r.device_performance_score) is None else v for r in requests]
        out[16] = [ctr if (v := r.historical_ctr_avg) is None else v for r in requests]
        return out.T, np.array([f[2] for f in found], dtype=np.int64)

    def domain_count(self, domain: str | None) -> int:
        """Training rows seen for ``domain`` (the floor's confidence history); 0 if unknown."""
        return 0 if domain is None else self._counts.get(normalise_domain(domain), 0)

    # -- a frame of rows --------------------------------------------------------------------
    def encode_frame(self, frame: FrameLike) -> FloatMatrix:
        """Lake rows (pandas, pyarrow or a mapping of columns) as a float32 matrix.

        The matrix is column-major (a transposed view): filling whole columns is several times
        faster than strided row writes, and XGBoost's ``inplace_predict`` reads it as it is.
        """
        n = frame_length(frame)
        buffer = np.empty((self.n_features, n), dtype=np.float32)
        for j, values in enumerate(self._columns(frame, n)):
            buffer[j] = values
        return buffer.T

    def domain_counts(self, frame: FrameLike) -> npt.NDArray[np.int64]:
        """Vector form of :meth:`domain_count` over the frame's ``domain`` column."""
        n = frame_length(frame)
        codes, uniques = category_codes(optional_column(frame, "domain", n))
        lut = [self.domain_count(u if isinstance(u, str) else None) for u in uniques]
        return np.array([*lut, 0], dtype=np.int64)[codes]

    def _columns(self, frame: FrameLike, n: int) -> list[npt.NDArray[Any]]:
        hour = int_column(frame, "hour_of_day", 0, 23)
        day = int_column(frame, "day_of_week", 1, 7)
        tier = int_column(frame, "country_tier", 1, 3)
        te, log_count = self._domain_columns(optional_column(frame, "domain", n))
        return [
            hour,
            day,
            WEEKEND_BY_DAY[day],
            PRIME_TIME_BY_HOUR[hour],
            HOUR_CATEGORY_BY_HOUR[hour],
            tier,
            EU_BY_TIER[tier],
            self._lookup(frame, "device_category", DEVICE_CODES, required=True),
            self._lookup(frame, "format", self._codes["format"], required=True),
            self._lookup(frame, "inventory_type", self._codes["inventory_type"], required=True),
            self._lookup(frame, "bidder", self._codes["bidder"], required=False),
            self._lookup(frame, "demand_channel", self._codes["demand_channel"], required=False),
            te,
            log_count,
            numeric_column(frame, "user_engagement_score", n, self._eng),
            numeric_column(frame, "device_performance_score", n, self._perf),
            numeric_column(frame, "historical_ctr_avg", n, self._ctr),
        ]

    def _lookup(
        self, frame: FrameLike, name: str, table: Mapping[Any, float], *, required: bool
    ) -> npt.NDArray[np.float64]:
        values = optional_column(frame, name, frame_length(frame))
        codes, uniques = category_codes(values)
        lut = np.array([table.get(str(u), NAN) for u in uniques] + [NAN])
        if required:
            unknown = [str(u) for u, v in zip(uniques, lut, strict=False) if np.isnan(v)]
            if unknown or (codes < 0).any():
                shown = ", ".join(sorted(unknown)[:5]) or "missing values"
                raise FeatureError(f"{name} has values outside {sorted(table)}: {shown}")
        return lut[codes]

    def _domain_columns(
        self, values: Any
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        codes, uniques = category_codes(values)
        pairs = [
            self._domain.get(normalise_domain(u), self._domain_missing)
            if isinstance(u, str)
            else self._domain_missing
            for u in uniques
        ]
        lut = np.array([*pairs, self._domain_missing], dtype=np.float64)
        return lut[codes, 0], lut[codes, 1]


def fit_feature_schema(
    frame: FrameLike,
    target: npt.ArrayLike,
    *,
    smoothing: float = 20.0,
    max_vocabulary: int = 64,
    max_domains: int = 100_000,
    baseline_rows: int = 200_000,
    impute: Literal["seed", "median"] = "seed",
    seed: int = 0,
) -> FeatureSchema:
    """Learn vocabularies, the domain target encoding and drift baselines from training rows.

    Rows whose target is NaN (e.g. unfilled impressions) count for nothing in the encoding.
    Absent scores are imputed with the seed's constants, or with the training medians when
    ``impute="median"`` (use it when the lake's score scale differs from the seed's).
    """
    n = frame_length(frame)
    y = np.asarray(target, dtype=np.float64).ravel()
    if y.size != n:
        raise FeatureError(f"target has {y.size} values for {n} rows")
    if n == 0 or np.isnan(y).all():
        raise FeatureError("cannot fit a feature schema without training rows")
    vocabularies = {
        col: _top_categories(optional_column(frame, col, n), max_vocabulary)
        for col in LEARNED_VOCABULARIES
    }
    encoding = _fit_domain_encoding(optional_column(frame, "domain", n), y, smoothing, max_domains)
    defaults = dict(SEED_DEFAULTS)
    if impute == "median":
        for name in SEED_DEFAULTS:
            column = numeric_column(frame, name, n, np.nan)
            if not np.isnan(column).all():
                defaults[name] = float(np.nanmedian(column))
    draft = FeatureSchema(
        vocabularies=vocabularies,
        domain_encoding=encoding,
        defaults=defaults,
        training_rows=n,
    )
    rng = np.random.default_rng(seed)
    sample = frame if n <= baseline_rows else take_rows(frame, rng.choice(n, baseline_rows, False))
    matrix = FeatureEncoder(draft).encode_frame(sample)
    kinds = draft.kinds()
    baselines = {
        name: build_baseline(matrix[:, j], kinds[name]) for j, name in enumerate(FEATURE_NAMES)
    }
    label = build_baseline(y, "numeric")
    levels = build_price_levels(
        y, int_column(frame, "day_of_week", 1, 7), int_column(frame, "hour_of_day", 0, 23)
    )
    return draft.model_copy(
        update={"baselines": baselines, "label_baseline": label, "label_levels": levels}
    )


def _top_categories(values: Any, limit: int) -> list[str]:
    codes, uniques = category_codes(values)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    ranked = sorted(range(len(uniques)), key=lambda i: (-counts[i], str(uniques[i])))
    return sorted({str(uniques[i]) for i in ranked[:limit] if counts[i] > 0})


def _fit_domain_encoding(
    values: Any, y: npt.NDArray[np.float64], smoothing: float, limit: int
) -> TargetEncoding:
    known = ~np.isnan(y)
    prior = float(y[known].mean())
    codes, uniques = category_codes(values)
    names = [normalise_domain(u) if isinstance(u, str) else "" for u in uniques]
    keys, key_of_unique = np.unique(np.array([*names, ""], dtype=object), return_inverse=True)
    row_key = key_of_unique[codes]  # codes == -1 lands on the appended "" (no domain)
    counts = np.bincount(row_key[known], minlength=len(keys))
    sums = np.bincount(row_key[known], weights=y[known], minlength=len(keys))
    order = sorted(
        (i for i in range(len(keys)) if keys[i] and counts[i] > 0),
        key=lambda i: (-counts[i], keys[i]),
    )[:limit]
    return TargetEncoding(
        prior=prior,
        smoothing=smoothing,
        values={
            str(keys[i]): float((sums[i] + smoothing * prior) / (counts[i] + smoothing))
            for i in order
        },
        counts={str(keys[i]): int(counts[i]) for i in order},
    )
