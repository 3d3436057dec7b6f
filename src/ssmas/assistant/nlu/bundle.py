"""The trained NLU models kept together, saved with joblib, and their thin MLflow wrapper.

``NluBundle`` is what ``train_assistant`` produces and ``load_nlu`` reads: language detector,
one intent classifier per language of the domain, the entity extractor, the domain itself
(responses, forms, rules), the Spanish sentiment classifier, and the validation figures they
reached. ``NluPythonModel`` is the only code that knows about MLflow; ``bundle_from_registry``
takes a registered version back out of it (``ssmas assistant promote``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib

from ssmas.assistant.nlu.classifier import TextClassifier
from ssmas.assistant.nlu.domain import Domain
from ssmas.assistant.nlu.entities import EntityExtractor
from ssmas.assistant.nlu.language import LanguageDetector
from ssmas.settings import Settings

FORMAT_VERSION = 2
MODEL_NAME = "assistant-nlu"


@dataclass
class NluBundle:
    language: LanguageDetector
    intents: dict[str, TextClassifier]
    entities: EntityExtractor
    domain: Domain
    sentiment_es: TextClassifier
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # the ``assistant-nlu`` version this is in the registry (None: never registered); set
    # after registering, so a version read back from MLflow gets it from ``bundle_from_registry``
    registry_version: int | None = None

    @property
    def uses_embeddings(self) -> bool:
        return any(model.uses_embeddings for model in self.intents.values())

    @property
    def encoder_name(self) -> str | None:
        """The MiniLM encoder its intent models were trained with (a model saved before
        encoders had names was trained with the NumPy one); ``None`` without embeddings."""
        from ssmas.assistant.nlu.minilm import NUMPY_ENCODER

        for model in self.intents.values():
            if model.uses_embeddings:
                return getattr(model.features_, "encoder_name", None) or NUMPY_ENCODER
        return None

    def intent_model(self, language: str) -> TextClassifier:
        """The classifier of ``language``, or of the domain's first language."""
        return self.intents.get(language) or self.intents[self.domain.languages[0]]


def nlu_dir(settings: Settings) -> Path:
    return settings.data_dir / "assistant" / "nlu"


def bundle_path(settings: Settings) -> Path:
    return nlu_dir(settings) / "nlu.joblib"


def challenger_path(settings: Settings) -> Path:
    return nlu_dir(settings) / "challenger.joblib"


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


def bundle_from_registry(settings: Settings, version: int | str, registry: Any = None) -> NluBundle:
    """The bundle logged as ``version`` (a number) of ``assistant-nlu``, stamped with it."""
    from ssmas.core.registry import registry_from_settings

    model = (registry or registry_from_settings(settings)).load(MODEL_NAME, version)
    unwrap = getattr(model, "unwrap_python_model", None)
    bundle = getattr(unwrap() if callable(unwrap) else model, "bundle", None)
    if not isinstance(bundle, NluBundle) or bundle.format_version != FORMAT_VERSION:
        raise ValueError(f"{MODEL_NAME} v{version} is not an NLU bundle of this version")
    if str(version).isdigit():
        bundle.registry_version = int(version)
    return bundle
