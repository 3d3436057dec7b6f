"""Predictive yield: CPM features, dynamic floors, champion / challenger, drift, intervals.

The names below are the pricing domain others build on (serving router, training, retraining
workflow, revenue simulation); every one of them is pure: no I/O, no clock, no global state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssmas.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ssmas.pricing.drift import (
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
    from ssmas.pricing.features import (
        FEATURE_NAMES,
        FEATURE_VERSION,
        FeatureEncoder,
        FeatureSchema,
        TargetEncoding,
        fit_feature_schema,
    )
    from ssmas.pricing.floors import (
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
    from ssmas.pricing.frames import FeatureError
    from ssmas.pricing.intervals import ConformalInterval, NotFittedError
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DriftError": "ssmas.pricing.drift",
        "DriftReport": "ssmas.pricing.drift",
        "FeatureBaseline": "ssmas.pricing.drift",
        "FeatureDrift": "ssmas.pricing.drift",
        "build_baseline": "ssmas.pricing.drift",
        "compute_drift": "ssmas.pricing.drift",
        "drift_action": "ssmas.pricing.drift",
        "drift_level": "ssmas.pricing.drift",
        "ks_statistic": "ssmas.pricing.drift",
        "FEATURE_NAMES": "ssmas.pricing.features",
        "FEATURE_VERSION": "ssmas.pricing.features",
        "FeatureEncoder": "ssmas.pricing.features",
        "FeatureSchema": "ssmas.pricing.features",
        "TargetEncoding": "ssmas.pricing.features",
        "fit_feature_schema": "ssmas.pricing.features",
        "FloorDecision": "ssmas.pricing.floors",
        "FloorError": "ssmas.pricing.floors",
        "PublisherFloorConfig": "ssmas.pricing.floors",
        "assign_control": "ssmas.pricing.floors",
        "control_mask": "ssmas.pricing.floors",
        "decide_floor": "ssmas.pricing.floors",
        "decide_floors": "ssmas.pricing.floors",
        "dynamic_floor": "ssmas.pricing.floors",
        "dynamic_floors": "ssmas.pricing.floors",
        "fallback_decision": "ssmas.pricing.floors",
        "FeatureError": "ssmas.pricing.frames",
        "ConformalInterval": "ssmas.pricing.intervals",
        "NotFittedError": "ssmas.pricing.intervals",
        "BatchFloorRequest": "ssmas.pricing.schemas",
        "BatchPredictRequest": "ssmas.pricing.schemas",
        "ErrorResponse": "ssmas.pricing.schemas",
        "FloorRequest": "ssmas.pricing.schemas",
        "FloorResponse": "ssmas.pricing.schemas",
        "PredictRequest": "ssmas.pricing.schemas",
        "PredictResponse": "ssmas.pricing.schemas",
        "error_response": "ssmas.pricing.schemas",
        "VariantSplit": "ssmas.pricing.variants",
        "assign_variant": "ssmas.pricing.variants",
        "hash_unit": "ssmas.pricing.variants",
        "hash_units": "ssmas.pricing.variants",
    },
)
