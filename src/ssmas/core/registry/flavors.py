"""Saving and loading models per MLflow flavor, and the MLflow signature of a feature schema.

The feature schema is our own dict: ``{"version": ..., "features": [...]}`` where features are
names (taken as doubles), ``{"name": ..., "type": ...}`` dicts, or a ``{name: type}`` mapping.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from ssmas.core.registry.model_version import Flavor, RegistryError

SCHEMA_FILE = "feature_schema.json"
_TYPES = {
    "double": "double",
    "float64": "double",
    "float": "double",
    "float32": "float",
    "int": "long",
    "int64": "long",
    "long": "long",
    "int32": "integer",
    "integer": "integer",
    "bool": "boolean",
    "boolean": "boolean",
    "str": "string",
    "string": "string",
    "category": "string",
    "datetime": "datetime",
}


def _columns(schema: dict[str, Any]) -> list[tuple[str, str]] | None:
    features = schema.get("features")
    if isinstance(features, dict):
        pairs = [(str(k), str(v)) for k, v in features.items()]
    elif isinstance(features, list):
        pairs = []
        for item in features:
            if isinstance(item, str):
                pairs.append((item, "double"))
            elif isinstance(item, dict) and "name" in item:
                pairs.append((str(item["name"]), str(item.get("type", "double"))))
            else:
                return None
    else:
        return None
    if not pairs or any(t.lower() not in _TYPES for _, t in pairs):
        return None
    return [(name, _TYPES[t.lower()]) for name, t in pairs]


def signature_from_schema(schema: dict[str, Any]) -> Any:
    """An MLflow ``ModelSignature`` for the inputs, or None when the schema cannot say."""
    columns = _columns(schema)
    if columns is None:
        return None
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec(type=t, name=n) for n, t in columns]))


def _pin(distribution: str) -> list[str]:
    # Pinning skips MLflow's requirement inference, which imports the model in a subprocess.
    try:
        return [f"{distribution}=={importlib.metadata.version(distribution)}"]
    except importlib.metadata.PackageNotFoundError:
        return [distribution]


def save_model(flavor: Flavor, model: Any, path: Path, signature: Any) -> None:
    """Write ``model`` as an MLflow model directory at ``path`` (which must not exist)."""
    if flavor == "xgboost":
        import mlflow.xgboost

        mlflow.xgboost.save_model(
            model, str(path), signature=signature, pip_requirements=_pin("xgboost")
        )
    elif flavor == "sklearn":
        import mlflow.sklearn
        import skops.io

        # We vouch for the object we are saving, so its own types are trusted when loading back.
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        mlflow.sklearn.save_model(
            model,
            str(path),
            signature=signature,
            pip_requirements=_pin("scikit-learn"),
            serialization_format="skops",
            skops_trusted_types=trusted or None,
        )
    elif flavor == "pyfunc":
        import mlflow.pyfunc

        if not isinstance(model, mlflow.pyfunc.PythonModel):
            raise RegistryError("flavor 'pyfunc' needs an mlflow.pyfunc.PythonModel instance")
        mlflow.pyfunc.save_model(
            str(path), python_model=model, signature=signature, pip_requirements=_pin("mlflow")
        )
    else:
        raise RegistryError(f"unknown flavor {flavor!r}: use xgboost, sklearn or pyfunc")


def load_model(path: Path, flavor: str | None) -> Any:
    """The native object: XGBoost model, sklearn estimator, or a ``PyFuncModel`` for pyfunc."""
    if flavor is None:
        from mlflow.models import Model

        flavors = Model.load(str(path)).flavors
        flavor = next((f for f in ("xgboost", "sklearn") if f in flavors), "pyfunc")
    if flavor == "xgboost":
        import mlflow.xgboost

        return mlflow.xgboost.load_model(str(path))
    if flavor == "sklearn":
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(path))
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(path))
