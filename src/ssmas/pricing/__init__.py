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

from typing import TYPE_CHECKING

from ssmas.core.lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FloorDecision": "ssmas.pricing.floors.formula",
        "FloorError": "ssmas.pricing.floors.formula",
        "PublisherFloorConfig": "ssmas.pricing.floors.formula",
        "assign_control": "ssmas.pricing.floors.formula",
        "control_mask": "ssmas.pricing.floors.formula",
        "decide_floor": "ssmas.pricing.floors.formula",
        "decide_floors": "ssmas.pricing.floors.formula",
        "dynamic_floor": "ssmas.pricing.floors.formula",
        "dynamic_floors": "ssmas.pricing.floors.formula",
        "fallback_decision": "ssmas.pricing.floors.formula",
        "DriftError": "ssmas.pricing.lifecycle.drift",
        "DriftReport": "ssmas.pricing.lifecycle.drift",
        "FeatureBaseline": "ssmas.pricing.lifecycle.drift",
        "FeatureDrift": "ssmas.pricing.lifecycle.drift",
        "build_baseline": "ssmas.pricing.lifecycle.drift",
        "compute_drift": "ssmas.pricing.lifecycle.drift",
        "drift_action": "ssmas.pricing.lifecycle.drift",
        "drift_level": "ssmas.pricing.lifecycle.drift",
        "ks_statistic": "ssmas.pricing.lifecycle.drift",
        "FEATURE_NAMES": "ssmas.pricing.model.features",
        "FEATURE_VERSION": "ssmas.pricing.model.features",
        "FeatureEncoder": "ssmas.pricing.model.features",
        "FeatureSchema": "ssmas.pricing.model.features",
        "TargetEncoding": "ssmas.pricing.model.features",
        "fit_feature_schema": "ssmas.pricing.model.features",
        "FeatureError": "ssmas.pricing.model.frame_columns",
        "ConformalInterval": "ssmas.pricing.model.intervals",
        "NotFittedError": "ssmas.pricing.model.intervals",
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
