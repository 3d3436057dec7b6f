"""The trained NLU models kept together, saved with joblib, and their thin MLflow wrapper.

``NluBundle`` is what ``train_nlu`` produces and ``load_nlu`` reads: language detector, English
and Spanish intent classifiers, Spanish sentiment classifier, and the validation figures they
reached. ``NluPythonModel`` is the only code that knows about MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib

from ssmas.assistant.nlu.classifier import TextClassifier
from ssmas.assistant.nlu.language import LanguageDetector
from ssmas.settings import Settings

FORMAT_VERSION = 1
MODEL_NAME = "assistant-nlu"


@dataclass
class NluBundle:
    language: LanguageDetector
    intent_en: TextClassifier
    intent_es: TextClassifier
    sentiment_es: TextClassifier
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def uses_embeddings(self) -> bool:
        return self.intent_en.uses_embeddings


def nlu_dir(settings: Settings) -> Path:
    return settings.data_dir / "assistant" / "nlu"


def bundle_path(settings: Settings) -> Path:
    return nlu_dir(settings) / "nlu.joblib"


def save_bundle(bundle: NluBundle, path: Path) -> Path:
    """Write atomically, so a reader never sees half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(bundle, tmp, compress=3)
    tmp.replace(path)
    return path


def read_bundle(path: Path) -> NluBundle | None:
    """The saved bundle, or ``None`` when missing, unreadable or of another format version."""
    if not path.is_file():
        return None
    try:
        bundle = joblib.load(path)
    except Exception:
        return None
    if not isinstance(bundle, NluBundle) or bundle.format_version != FORMAT_VERSION:
        return None
    return bundle


def python_model(bundle: NluBundle) -> Any:
    """Wrap the bundle as an ``mlflow.pyfunc.PythonModel`` (input: a ``text`` column)."""
    import mlflow.pyfunc
    import pandas as pd

    class NluPythonModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        def __init__(self, bundle: NluBundle) -> None:
            self.bundle = bundle

        # No annotations: MLflow reads them as a schema it cannot check, and warns.
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            from ssmas.assistant.nlu.analyser import NLU

            nlu = getattr(self, "_nlu", None)
            if nlu is None:  # built once: it may load the MiniLM weights
                nlu = self._nlu = NLU(self.bundle)
            rows = [nlu.analyse(str(t)).as_dict() for t in model_input["text"]]
            return pd.DataFrame(rows)

    return NluPythonModel(bundle)
