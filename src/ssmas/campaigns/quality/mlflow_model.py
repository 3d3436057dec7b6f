"""The MLflow face of the lead-quality ensemble: the only module that knows MLflow.

Registered with the ``pyfunc`` flavor, so ``mlflow models serve`` and ``mlflow.pyfunc`` can use
it too: ``predict`` takes a frame of the raw lead fields and answers ``quality`` (0-100) and
``spread`` (standard deviation between the members, same scale). Imported only when a model is
logged or loaded (importing MLflow takes seconds).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel  # type: ignore[attr-defined]

from ssmas.campaigns.quality.ensemble import LeadQualityEnsemble
from ssmas.campaigns.quality.features import lead_matrix


class LeadQualityPyfunc(PythonModel):  # type: ignore[misc]
    """Holds a fitted :class:`LeadQualityEnsemble`."""

    def __init__(self, ensemble: LeadQualityEnsemble) -> None:
        self.ensemble = ensemble

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        quality, spread = self.ensemble.predict_with_confidence(lead_matrix(model_input))
        return pd.DataFrame({"quality": quality, "spread": spread})
