"""Predictive yield: CPM features, dynamic floors, champion / challenger, drift, intervals.

The names below are the pricing domain others build on (serving router, training, retraining
workflow, revenue simulation); every one of them is pure: no I/O, no clock, no global state.

Layout: the entry points sit here (``api`` and ``api_admin`` routes, ``commands`` for the CLI,
``web`` pages, ``demo`` and ``demo_model``) beside the public contract (``schemas``, and
``variants``, the sticky hash every split uses); the work is in four subpackages: ``model``
(data, features, training, intervals, evaluation), ``serving`` (the ``/v2`` scoring side),
``floors`` (the seed's floor formula, floor decisions, their simulation) and ``lifecycle``
(drift, monitoring, retraining).
"""

from __future__ import annotations

from ssmas.pricing.floors.formula import (
    FloorDecision,
    FloorError,
    PublisherFloorConfig,
    assign_control,
    control_mask,
    decide_floor,
    decide_floors,
    dynamic_floor,
    dynamic_floors,
    fallback_decision,
)
from ssmas.pricing.lifecycle.drift import (
    DriftError,
    DriftReport,
    FeatureBaseline,
    FeatureDrift,
    build_baseline,
    compute_drift,
    drift_action,
    drift_level,
    ks_statistic,
)
from ssmas.pricing.model.features import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    FeatureEncoder,
    FeatureSchema,
    TargetEncoding,
    fit_feature_schema,
)
from ssmas.pricing.model.frame_columns import FeatureError
from ssmas.pricing.model.intervals import ConformalInterval, NotFittedError
from ssmas.pricing.schemas import (
    BatchFloorRequest,
    BatchPredictRequest,
    ErrorResponse,
    FloorRequest,
    FloorResponse,
    PredictRequest,
    PredictResponse,
    error_response,
)
from ssmas.pricing.variants import VariantSplit, assign_variant, hash_unit, hash_units

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "BatchFloorRequest",
    "BatchPredictRequest",
    "ConformalInterval",
    "DriftError",
    "DriftReport",
    "ErrorResponse",
    "FeatureBaseline",
    "FeatureDrift",
    "FeatureEncoder",
    "FeatureError",
    "FeatureSchema",
    "FloorDecision",
    "FloorError",
    "FloorRequest",
    "FloorResponse",
    "NotFittedError",
    "PredictRequest",
    "PredictResponse",
    "PublisherFloorConfig",
    "TargetEncoding",
    "VariantSplit",
    "assign_control",
    "assign_variant",
    "build_baseline",
    "compute_drift",
    "control_mask",
    "decide_floor",
    "decide_floors",
    "drift_action",
    "drift_level",
    "dynamic_floor",
    "dynamic_floors",
    "error_response",
    "fallback_decision",
    "fit_feature_schema",
    "hash_unit",
    "hash_units",
    "ks_statistic",
]
