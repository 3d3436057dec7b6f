"""NLU end to end on real files: train the shipped domain (with a small cut of the shared corpora
for language and sentiment), save, load, analyse, register in MLflow with champion /
challenger; the model first use trains is the one ``train`` makes; language detection on
held-out sentences of the full corpora."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ssmas.assistant.knowledge import KnowledgeBase
from ssmas.assistant.nlu import NluUnavailable, load_nlu, train_nlu
from ssmas.assistant.nlu.bundle import bundle_path
from ssmas.assistant.nlu.corpora import data_root
from ssmas.assistant.nlu.language import LanguageDetector
from ssmas.assistant.nlu.training import Splits, language_corpus
from ssmas.assistant.respond import answer_message
from ssmas.settings import Settings

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(
    not (SHARED / "intents").is_dir(), reason=f"shared NLU corpora not found at {SHARED}"
)
BANKING = (
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "request_refund",
    "terminate_account",
)
TOD = ("alarm/set_alarm", "reminder/set_reminder", "weather/find")


def _cut_corpora(root: Path) -> Path:
    """A few classes of every corpus, same formats, so training takes seconds."""
    intents = root / "intents"
    (intents / "banking77").mkdir(parents=True)
    with (SHARED / "intents/banking77/train.csv").open(encoding="utf-8") as fh:
        every = list(csv.DictReader(fh))
    rows = [r for label in BANKING for r in [x for x in every if x["category"] == label][:50]]
    with (intents / "banking77/train.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)
    (intents / "bitext").mkdir()
    src = SHARED / "intents/bitext/bitext_8k_customer_service.csv"
    with src.open(encoding="utf-8-sig") as fh:
        keep = [r for r in csv.DictReader(fh) if r["intent"] in ("complaint", "cancel_order")]
    with (intents / "bitext" / src.name).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["flags", "utterance", "category", "intent"])
        writer.writeheader()
        writer.writerows(keep)
    (intents / "clinc150").mkdir()
    clinc = json.loads((SHARED / "intents/clinc150/data_train_val.json").read_text())
    small = {k: v[:40] for k, v in clinc.items()}
    (intents / "clinc150/data_train_val.json").write_text(json.dumps(small))
    (intents / "tod_es").mkdir()
    for name in ("train-es.tsv", "eval-es.tsv"):
        lines = (SHARED / "intents/tod_es" / name).read_text(encoding="utf-8").splitlines()
        picked = [line for line in lines if line.split("\t")[0] in TOD][:120]
        (intents / "tod_es" / name).write_text("\n".join(picked) + "\n", encoding="utf-8")
    (root / "sentiment").mkdir()
    tweets = (SHARED / "sentiment/airline_tweets_es_train.csv").read_text(encoding="utf-8")
    with (SHARED / "sentiment/airline_tweets_es_train.csv").open(encoding="utf-8") as fh:
        reader = list(csv.DictReader(fh))
    assert tweets
    with (root / "sentiment/airline_tweets_es_train.csv").open(
        "w", encoding="utf-8", newline=""
    ) as fh:
        writer = csv.DictWriter(fh, fieldnames=["tweet_id", "airline_sentiment", "text"])
        writer.writeheader()
        writer.writerows(reader[:300])
    return root


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _cut_corpora(tmp_path_factory.mktemp("corpora"))


def test_train_save_load_analyse(settings: Settings, corpus_root: Path) -> None:
    report = train_nlu(settings, use_embeddings=False, register_model=False, root=corpus_root)
    assert report.path == bundle_path(settings) and report.path.is_file()
    assert not report.embeddings
    for key in (
        "domain_val_intent_acc_es",
        "domain_val_intent_acc_en",
        "domain_val_oos_recall_es",
        "language_acc",
        "sentiment_3class_acc_es",
        "sentiment_binary_acc_es",
    ):
        assert 0.0 <= report.metrics[key] <= 1.0, key
    assert report.metrics["domain_val_intent_acc_en"] > 0.7
    saved_at = report.path.stat().st_mtime_ns

    nlu = load_nlu(settings)
    assert report.path.stat().st_mtime_ns == saved_at  # loaded, not retrained
    locked = nlu.analyse("I forgot my password and cannot log in")
    assert (locked.language, locked.intent) == ("en", "account_access")
    assert 0.0 < locked.intent_confidence <= 1.0
    invoice = nlu.analyse("Necesito la factura de marzo")
    assert (invoice.language, invoice.intent) == ("es", "invoice")
    assert [(e.entity, e.text, e.value) for e in invoice.entities] == [("month", "marzo", "03")]
    weather = nlu.analyse("¿Qué tiempo hará mañana en Sevilla?")
    assert weather.out_of_scope
    angry = nlu.analyse("This is terrible and unacceptable, nobody helps me!")
    assert angry.sentiment == "negative" and angry.negative_score > 0.8
    forced = nlu.analyse("hola", language="en")
    assert forced.language == "en"
    empty = nlu.analyse("   ")
    assert empty.out_of_scope and empty.intent_confidence == 0.0

    kb = KnowledgeBase.shipped()
    angry = answer_message(
        "I want a refund, this is terrible and unacceptable!", nlu, kb, context_length=3
    )
    assert angry.escalation.escalate and angry.escalation.score >= 65
    assert angry.reply.source == "handoff" and angry.reply.language == "en"
    calm = answer_message("¿Cuál es el pago mínimo?", nlu, kb, context_length=1)
    assert not calm.escalation.escalate
    assert (calm.reply.language, calm.reply.faq_id) == ("es", "payment_threshold")


@pytest.mark.slow  # the default path: MiniLM encoding and an MLflow registration
def test_first_use_trains_what_train_trains(settings: Settings, corpus_root: Path) -> None:
    """No served model: ``load_nlu`` runs ``train_assistant`` with its defaults (embeddings when
    installed, registered), so the model is the one ``ssmas assistant train`` makes."""
    from ssmas.assistant.nlu.minilm import find_model_dir, minilm_encoder
    from ssmas.core.registry import registry_from_settings

    settings = settings.model_copy(update={"shared_data": corpus_root})
    assert data_root(settings.shared_data) == corpus_root
    assert data_root() == SHARED  # the default: shared/data beside the repository
    assert not bundle_path(settings).exists()
    nlu = load_nlu(settings)
    assert bundle_path(settings).is_file()
    assert nlu.bundle.uses_embeddings == (find_model_dir() is not None)
    if nlu.bundle.uses_embeddings:  # served with the encoder it was trained with
        assert nlu.encoder.name == nlu.bundle.encoder_name == minilm_encoder().name
    assert nlu.analyse("What is the minimum payout?").intent == "payment_threshold"
    (version,) = registry_from_settings(settings).list_versions("assistant-nlu")
    assert version.aliases == ["champion"]
    assert version.metrics["domain_val_intent_acc_en"] == pytest.approx(
        nlu.bundle.metrics["domain_val_intent_acc_en"]
    )


def test_no_model_and_no_corpus_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"shared_data": tmp_path / "nowhere"})
    with pytest.raises(NluUnavailable, match="no corpus"):
        load_nlu(settings)
    with pytest.raises(NluUnavailable, match="ssmas assistant train"):
        load_nlu(settings, train_if_missing=False)


@pytest.mark.slow  # retrains on the default path (MiniLM, MLflow)
def test_corrupt_model_file_is_retrained(settings: Settings, corpus_root: Path) -> None:
    settings = settings.model_copy(update={"shared_data": corpus_root})
    bundle_path(settings).parent.mkdir(parents=True)
    bundle_path(settings).write_bytes(b"not a joblib file")
    assert load_nlu(settings).analyse("¿Cómo configuro ads.txt?").intent == "ads_txt"


def _smaller_domain(target: Path) -> Path:
    """The shipped domain with five examples per intent and language: a worse model."""
    import yaml

    from ssmas.assistant.nlu.domain import shipped_domain_dir

    source = shipped_domain_dir()
    (target / "nlu").mkdir(parents=True)
    (target / "domain.yml").write_text((source / "domain.yml").read_text(encoding="utf-8"))
    for name in ("es.yml", "en.yml"):
        data = yaml.safe_load((source / "nlu" / name).read_text(encoding="utf-8"))
        data["intents"] = {k: v[:5] for k, v in data["intents"].items()}
        (target / "nlu" / name).write_text(yaml.safe_dump(data, allow_unicode=True))
    return target


def test_registered_champion_then_challenger_then_promoted(
    settings: Settings, corpus_root: Path, tmp_path: Path
) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from ssmas.assistant.commands import assistant_app
    from ssmas.assistant.nlu.bundle import challenger_path, read_bundle
    from ssmas.assistant.nlu.domain import load_domain
    from ssmas.core.registry import registry_from_settings
    from ssmas.settings import use_settings

    report = train_nlu(settings, use_embeddings=False, register_model=True, root=corpus_root)
    assert (report.registered_version, report.alias) == (1, "champion")
    registry = registry_from_settings(settings)
    model = registry.load("assistant-nlu", 1)
    out = model.predict(pd.DataFrame({"text": ["I lost my password", "Pon una alarma"]}))
    assert list(out["language"]) == ["en", "es"]

    worse = train_nlu(
        settings,
        data_dir=_smaller_domain(tmp_path / "small"),
        use_embeddings=False,
        register_model=True,
        root=corpus_root,
    )
    assert (worse.registered_version, worse.alias) == (2, "challenger")
    assert worse.path == challenger_path(settings)  # not served
    served = read_bundle(bundle_path(settings))
    assert served is not None and served.params["examples"] == len(load_domain().examples)

    with use_settings(settings):
        result = CliRunner().invoke(assistant_app, ["promote"])
    assert result.exit_code == 0, result.output
    served = read_bundle(bundle_path(settings))
    small = len(load_domain().intents) * 5 * 2  # intents x 5 x es, en
    assert served is not None and served.params["examples"] == small
    assert served.registry_version == 2
    assert not challenger_path(settings).exists()
    aliases = {v.version: v.aliases for v in registry.list_versions("assistant-nlu")}
    assert aliases == {1: [], 2: ["champion"]}


def test_language_detection_on_held_out_sentences() -> None:
    splits = Splits.load()
    train, held = language_corpus(splits, 0), language_corpus(splits, 1)
    detector = LanguageDetector().fit(train.texts, train.labels)
    predicted = detector.detect_many(held.texts)
    accuracy = sum(p == y for p, y in zip(predicted, held.labels, strict=True)) / len(held)
    assert accuracy >= 0.98
    support = {
        "Hola, mi pedido llegó roto y quiero que me devuelvan el dinero": "es",
        "Quiero hablar con un agente": "es",
        "Mi pago no ha llegado todavía": "es",
        "Hi, where is my order?": "en",
        "I want to talk to a manager": "en",
        "My payment still has not arrived": "en",
        "¿Qué tal?": "es",
    }
    for text, language in support.items():
        assert detector.detect(text)[0] == language, text
    assert detector.detect("👍", default="en") == ("en", 0.5)
