"""What the registry hands back: plain pydantic records and errors, no MLflow types."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Flavor = Literal["xgboost", "sklearn", "pyfunc"]
CHAMPION = "champion"
CHALLENGER = "challenger"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class ModelVersionInfo(BaseModel):
    """One registered version of a model, with its aliases and its training metrics."""

    name: str
    version: int
    aliases: list[str] = Field(default_factory=list)
    run_id: str
    metrics: dict[str, float] = Field(default_factory=dict)
    feature_schema_version: str | None = None
    flavor: str | None = None
    created_at: datetime
    tags: dict[str, str] = Field(default_factory=dict)  # the version's tags (e.g. approval)


class RegistryError(Exception):
    """The registry refused or failed an operation; the message says which and why."""


class ModelNotFound(RegistryError):
    """No such registered model, version or alias."""


def check_name(name: str, what: str = "model name") -> str:
    """Names become MLflow filter strings and directory names, so keep them plain."""
    if not _NAME.match(name):
        raise RegistryError(
            f"invalid {what} {name!r}: use letters, digits, '_', '.', '-' (max 128, no leading "
            "punctuation)"
        )
    return name
