"""The model registry port over MLflow: log, version, alias, promote, roll back and load models.

Importing this package does not import MLflow; the first registry call does.
"""

from __future__ import annotations

from ssmas.core.registry.mlflow_registry import (
    ModelRegistry,
    registry_exists,
    registry_from_settings,
)
from ssmas.core.registry.model_version import (
    CHALLENGER,
    CHAMPION,
    Flavor,
    ModelNotFound,
    ModelVersionInfo,
    RegistryError,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "Flavor",
    "ModelNotFound",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegistryError",
    "registry_exists",
    "registry_from_settings",
]
